"""Inference API: query images + prompt pairs -> predicted masks."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import mmengine
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from torch import nn

from projects.prompthub.models.utils.canvas import cell_size
from projects.prompthub.models.utils.strict_load import (ALLOW_KEY,
                                                         load_model_checkpoint)
from projects.prompthub.registry import MODELS
from projects.prompthub.visualization import (draw_vicl_grid,
                                              fused_prompt_cells)
from .inference_io import (ImageLike, mask_foreground, output_stems, read_rgb,
                           warn_if_empty, write_image)


class PromptHubInferencer:
    """Predict query masks from prompt pairs with any VICL model.

    In the spirit of mmseg's ``MMSegInferencer``: build a model from a
    config (``PromptHub`` or ``VICLInpainter``, with the tiny demo
    backbone or converted official weights), then call it on query images
    with prompt pairs ``(image, mask)`` given explicitly or looked up in a
    :class:`RetrievalIndex`.

    Args:
        model (str | Config | nn.Module): Config path, config, or a built
            model.
        weights (str, optional): Checkpoint loaded into the model (e.g. a
            trained PromptHub from ``tools/train.py``), exactly: every key
            with its shape, apart from the config's ``load_from_allow``
            (see :mod:`projects.prompthub.models.utils.strict_load`).
            Defaults to None.
        device (str): Defaults to ``'cpu'``.
        mask_fg_value (float, optional): Foreground value of label-id
            prompt masks with several classes. Defaults to None.
        mask_threshold (float, optional): Foreground is above this value,
            for soft or JPEG prompt masks. Defaults to None. Without
            either, a prompt mask must be 0 plus one foreground value
            (0/1, 0/255, 0/label id; a 255 void band next to a label id is
            background); see :func:`mask_foreground`.
        load_from_allow (dict, optional): Overrides the config's
            ``load_from_allow``, e.g. ``dict(missing=['backbone.'])``.
    """

    def __init__(self,
                 model: Union[str, Config, nn.Module],
                 weights: Optional[str] = None,
                 device: str = 'cpu',
                 mask_fg_value: Optional[float] = None,
                 mask_threshold: Optional[float] = None,
                 load_from_allow: Optional[dict] = None) -> None:
        import projects.prompthub  # noqa: F401  (registers everything)
        cfg = None
        if isinstance(model, nn.Module):
            self.model = model
        else:
            cfg = Config.fromfile(model) if isinstance(model, str) else model
            init_default_scope(cfg.get('default_scope', 'mmseg'))
            self.model = MODELS.build(cfg.model)
        if weights:
            if load_from_allow is None and cfg is not None:
                load_from_allow = cfg.get(ALLOW_KEY)
            load_model_checkpoint(self.model, weights, allow=load_from_allow)
        self.model.to(device).eval()
        self.device = device
        self.mask_fg_value = mask_fg_value
        self.mask_threshold = mask_threshold
        size = self.model.backbone.img_size
        self.cell = cell_size(size)

    def _resize(self, img: np.ndarray, nearest: bool = False) -> np.ndarray:
        interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
        return cv2.resize(img, (self.cell, self.cell), interpolation=interp)

    def pack(self, query: ImageLike,
             prompts: Sequence[Tuple[ImageLike, ImageLike]]) -> dict:
        """Model inputs of one query: uint8 [K+1, 2, 3, S, S]."""
        if not prompts:
            raise ValueError('give at least one prompt pair (image, mask)')
        q = read_rgb(query, 'query image')
        pairs = [(self._resize(q), np.zeros((self.cell, self.cell, 3),
                                            np.uint8))]
        for k, (img, mask) in enumerate(prompts):
            fg = mask_foreground(mask, f'prompt {k} mask', self.mask_fg_value,
                                 self.mask_threshold)
            name = f'prompt {k} mask ' + (
                repr(mask) if isinstance(mask, str) else '(array)')
            warn_if_empty(fg, name)
            lab = self._resize(fg.astype(np.uint8) * 255, nearest=True)
            if fg.any():
                warn_if_empty(lab, name, self.cell)
            pairs.append((self._resize(read_rgb(img, f'prompt {k} image')),
                          np.repeat(lab[..., None], 3, axis=2)))
        arr = np.stack([np.stack(p) for p in pairs])  # [K+1, 2, S, S, 3]
        inputs = torch.from_numpy(arr).permute(0, 1, 4, 2, 3).contiguous()
        return dict(inputs=inputs, ori_shape=q.shape[:2])

    def prompts_from_index(self, query_name: str, index,
                           candidates: Dict[str, Tuple[str, str]],
                           num_prompts: int) -> List[Tuple[str, str]]:
        """Prompt pairs of ``query_name`` from a retrieval index.

        Args:
            query_name (str): Key of the query in ``index``.
            index: A :class:`RetrievalIndex`.
            candidates (dict): Candidate name -> ``(image, mask)`` paths.
            num_prompts (int): K.
        """
        names = index.neighbours(query_name, num_prompts)
        missing = [n for n in names if n not in candidates]
        if missing:
            raise KeyError(f'retrieved prompts {missing} have no (image, '
                           'mask) entry in candidates')
        return [candidates[n] for n in names]

    def _preprocess(self, pairs: torch.Tensor) -> torch.Tensor:
        """Run the model's data preprocessor on one query's pairs.

        The preprocessor's ``num_prompts`` guards training batches against
        a dataset/model mismatch; at inference any number of prompts is
        valid (the fusion neck is N-agnostic), so the check is lifted for
        this call only.
        """
        pre = self.model.data_preprocessor
        expected = getattr(pre, 'num_prompts', None)
        if expected is not None:
            pre.num_prompts = None
        try:
            data = pre(dict(inputs=[pairs]), False)
        finally:
            if expected is not None:
                pre.num_prompts = expected
        return data['inputs'].to(self.device)

    @torch.no_grad()
    def __call__(self,
                 queries: Union[ImageLike, Sequence[ImageLike]],
                 prompts: Optional[Sequence[Tuple[ImageLike,
                                                  ImageLike]]] = None,
                 index=None,
                 candidates: Optional[Dict[str, Tuple[str, str]]] = None,
                 num_prompts: int = 4,
                 out_dir: Optional[str] = None) -> List[dict]:
        """Predict a mask per query.

        Args:
            queries: One image (path or RGB array) or a list of them.
            prompts: ``(image, mask)`` pairs shared by every query.
            index: A :class:`RetrievalIndex`; with ``candidates``, each
                query (named by its file stem) gets its own neighbours.
            candidates (dict, optional): Name -> ``(image, mask)``.
            num_prompts (int): Prompts taken from the index. Defaults
                to 4.
            out_dir (str, optional): Write ``{name}_mask.png`` and
                ``{name}_vis.png`` (prompts, fused prompt, prediction);
                ``name`` is the file stem, or ``{stem}_{i}`` (``i`` the
                query's position) when stems repeat in ``queries``
                (see :func:`output_stems`). A file that cannot be written
                raises.

        Returns:
            list[dict]: Per query, in the order of ``queries``: ``mask``
            (bool HxW at the query's size), ``pred_label_img`` (uint8
            SxSx3, the predicted cell), ``vis`` (the grid), and where the
            outputs were written: ``mask_path`` and ``vis_path`` (None
            without ``out_dir``) and both as the list ``paths``.
        """
        if isinstance(queries, (str, np.ndarray)):
            queries = [queries]
        out_names = output_stems(queries)
        results = []
        for n, query in enumerate(queries):
            pairs = prompts
            if pairs is None:
                if index is None or candidates is None:
                    raise ValueError('give prompts, or index + candidates')
                stem = osp.splitext(osp.basename(query))[0] if isinstance(
                    query, str) else f'query_{n}'
                pairs = self.prompts_from_index(stem, index, candidates,
                                                num_prompts)
            packed = self.pack(query, pairs)
            inputs = self._preprocess(packed['inputs'])
            # One backbone pass serves the prediction and the fused view.
            logits = self.model.encode_decode(inputs)
            sample = self.model.predict(inputs, logits=logits)[0]
            cell_mask = sample.pred_sem_seg.data[0].cpu().numpy() > 0
            h, w = packed['ori_shape']
            mask = cv2.resize(cell_mask.astype(np.uint8), (w, h),
                              interpolation=cv2.INTER_NEAREST) > 0
            fused = fused_prompt_cells(self.model, inputs, logits)
            vis = draw_vicl_grid(
                [(inputs[0, k, 0], inputs[0, k, 1])
                 for k in range(1, inputs.shape[1])], inputs[0, 0, 0],
                sample.pred_label_img.data, None,
                None if fused is None else (fused[0, 0], fused[0, 1]))
            result = dict(
                mask=mask,
                pred_label_img=sample.pred_label_img.data.permute(
                    1, 2, 0).cpu().numpy(),
                vis=vis,
                paths=[],
                mask_path=None,
                vis_path=None)
            if out_dir:
                mmengine.mkdir_or_exist(out_dir)
                for suffix, img in (('mask', mask.astype(np.uint8) * 255),
                                    ('vis', cv2.cvtColor(
                                        vis, cv2.COLOR_RGB2BGR))):
                    path = write_image(
                        osp.join(out_dir, f'{out_names[n]}_{suffix}.png'),
                        img)
                    result[f'{suffix}_path'] = path
                    result['paths'].append(path)
            results.append(result)
        return results
