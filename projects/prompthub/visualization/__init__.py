"""Canvas visualisation: PNG grids of prompts, fused prompt, prediction."""
from .vicl_visualization import (VICLVisualizationHook, draw_vicl_grid,
                                 fused_prompt_cells)

__all__ = ['VICLVisualizationHook', 'draw_vicl_grid', 'fused_prompt_cells']
