"""Visualisation: PNG grids of prompts, fused prompt, prediction (drawn
during test by ``engine.hooks.VICLVisualizationHook``)."""
from .vicl_local_visualizer import (VICLLocalVisualizer, query_image,
                                    set_episode_views)
from .vicl_visualization import draw_vicl_grid, fused_prompt_cells

__all__ = [
    'VICLLocalVisualizer', 'draw_vicl_grid', 'fused_prompt_cells',
    'query_image', 'set_episode_views'
]
