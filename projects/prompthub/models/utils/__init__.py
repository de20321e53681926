from .checkpoint_io import (MAE_WEIGHTS_HINT, VQGAN_WEIGHTS_HINT,
                            check_state_dict, checkpoint_allow_list,
                            load_checkpoint_file, load_mae_state_dict,
                            load_mae_vqgan_files, load_vqgan_state_dict,
                            merge_mae_vqgan, module_layout, short_list,
                            state_dict_mismatch, vae_keys_differ)
from .pos_embed import get_2d_sincos_pos_embed, sincos_pos_embed_tensor
from .strict_load import (load_model_checkpoint, load_state_dict_exactly,
                          parse_load_allow, read_checkpoint, weight_source)

__all__ = [
    'MAE_WEIGHTS_HINT', 'VQGAN_WEIGHTS_HINT', 'check_state_dict',
    'checkpoint_allow_list', 'load_checkpoint_file', 'load_mae_state_dict',
    'load_mae_vqgan_files', 'load_vqgan_state_dict', 'merge_mae_vqgan',
    'module_layout', 'short_list', 'state_dict_mismatch', 'vae_keys_differ',
    'get_2d_sincos_pos_embed', 'sincos_pos_embed_tensor',
    'load_model_checkpoint', 'load_state_dict_exactly', 'parse_load_allow',
    'read_checkpoint', 'weight_source'
]
