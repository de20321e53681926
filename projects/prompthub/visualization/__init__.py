"""Visualisation: PNG grids of prompts, fused prompt, prediction."""
from .vicl_local_visualizer import (VICLLocalVisualizer, query_image,
                                    set_episode_views)
from .vicl_visualization import draw_vicl_grid, fused_prompt_cells
from .visualization_hook import VICLVisualizationHook

__all__ = [
    'VICLLocalVisualizer', 'VICLVisualizationHook', 'draw_vicl_grid',
    'fused_prompt_cells', 'query_image', 'set_episode_views'
]
