"""The ``amp`` check: PromptHub trains a few iterations under the profile's
optimiser wrapper (the loss is finite and falls), then its predictions under
autocast are compared with fp32's."""
import contextlib
import math
import os.path as osp
import time

from .context import FAIL, PASS, Context, Result, run_worker
from .process import REPO
from .profiles import TINY_CONFIG

NAME = 'amp'
#: The profile keys of the check's tolerances: the verdict's, not the
#: worker's.
TOLERANCES = ('max_logit_diff_rel', 'min_code_agreement', 'max_level_diff')


def train_and_compare(params: dict) -> dict:
    """Worker: train a few iterations, then compare AMP and fp32
    predictions.

    The model is the tiny synthetic config's, or ``model_config``'s model
    (full size) with the tiny config's data, random weights, no dropout
    (the loss then follows the weights alone). Training runs
    ``model.train_step`` with the ``optim_wrapper`` type of the profile,
    on one batch of ``batch_size`` samples seen every iteration. The
    comparison predicts one validation batch twice (the prompt-state cache
    emptied before each): in fp32 and under ``torch.autocast`` to
    ``amp_dtype``.
    """
    import torch
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    import projects.prompthub  # noqa: F401
    from projects.prompthub.registry import MODELS
    device = torch.device(params['device'])
    amp_dtype = getattr(torch, params['amp_dtype'])
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(REPO, TINY_CONFIG))
    if params['model_config']:
        cfg.model = Config.fromfile(osp.join(REPO,
                                             params['model_config'])).model
        cfg.model.data_preprocessor.num_prompts = cfg.num_prompts
    cfg.model.neck.dropout = 0.0
    batch = params['batch_size']
    for loader in (cfg.train_dataloader, cfg.val_dataloader):
        loader.batch_size = batch
        loader.dataset.num_samples = batch
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device)
    wrapper_cfg = dict(
        type=params['optim_wrapper'],
        optimizer=dict(type='SGD', lr=params['lr'], momentum=0.0))
    if params['optim_wrapper'] == 'AmpOptimWrapper':
        wrapper_cfg['loss_scale'] = 'dynamic'
    wrapper = build_optim_wrapper(model, wrapper_cfg)

    train_batch = next(iter(Runner.build_dataloader(cfg.train_dataloader, 0)))
    model.train()
    losses, scales = [], []
    start = time.perf_counter()
    for _ in range(params['iters']):
        log_vars = model.train_step(train_batch, wrapper)
        losses.append(float(torch.as_tensor(log_vars['loss']).detach()))
        scaler = getattr(wrapper, 'loss_scaler', None)
        scales.append(None if scaler is None else float(scaler.get_scale()))
    train_s = time.perf_counter() - start

    model.eval()
    val_batch = next(iter(Runner.build_dataloader(cfg.val_dataloader, 0)))
    data = model.data_preprocessor(val_batch, False)

    def predict(dtype) -> tuple:
        cache = getattr(model, 'prompt_state_cache', None)
        if cache is not None:
            cache.clear()  # else the second pass reuses the first's states
        cast = torch.autocast(device.type, dtype=dtype) if dtype \
            else contextlib.nullcontext()
        with torch.no_grad(), cast:
            logits = model(data['inputs'], None, mode='tensor')
            samples = model.predict(data['inputs'], None, logits=logits)
        masks = torch.stack([s.pred_sem_seg.data for s in samples])
        cells = torch.stack([s.pred_label_img.data for s in samples])
        return logits, masks, cells

    logits32, masks32, cells32 = predict(None)
    logits_amp, masks_amp, cells_amp = predict(amp_dtype)
    # The decoder alone, on the same (fp32) codes: code flips apart.
    codes32 = logits32.argmax(-1)
    with torch.no_grad():
        decoded32 = model.backbone.decode_codes(codes32)
        with torch.autocast(device.type, dtype=amp_dtype):
            decoded_amp = model.backbone.decode_codes(codes32)
    diff = (logits_amp.float() - logits32).abs()
    first, last = losses[:5], losses[-5:]
    return dict(
        device=str(device),
        model_params=sum(p.numel() for p in model.parameters()),
        optim_wrapper=type(wrapper).__name__,
        amp_dtype=params['amp_dtype'],
        iters=params['iters'],
        batch_size=batch,
        train_s=train_s,
        losses=losses,
        loss_scales=scales,
        loss_first5=sum(first) / len(first),
        loss_last5=sum(last) / len(last),
        losses_finite=all(math.isfinite(v) for v in losses),
        amp_logits_dtype=str(logits_amp.dtype).replace('torch.', ''),
        max_logit_diff=float(diff.max()),
        logit_std=float(logits32.std()),
        logit_diff_rel=float(diff.max() / logits32.std()),
        code_agreement=float(
            (logits_amp.argmax(-1) == codes32).float().mean()),
        level_diff=_level_diff(cells_amp, cells32),
        decode_level_diff=_level_diff(decoded_amp, decoded32),
        pixel_diff=float((masks_amp != masks32).float().mean()),
        pixels=masks32.numel())


def _level_diff(a, b) -> float:
    """Mean absolute difference of two images in uint8 levels (floats in
    [0, 1] are truncated to levels as ``paste_prediction`` does)."""

    def levels(x):
        if x.is_floating_point():
            x = (x.float() * 255).clamp(0, 255)
        return x.int()

    return float((levels(a) - levels(b)).abs().float().mean())


def check(ctx: Context) -> Result:
    """Training under the profile's optimiser wrapper and AMP vs fp32."""
    prof = ctx.profile[NAME]
    params = {
        k: v
        for k, v in prof.items() if k != 'timeout' and k not in TOLERANCES
    }
    params['device'] = ctx.device
    got, why = run_worker(ctx, 'amp', params, ctx.path('amp.log'), ctx.left())
    if got is None:
        return Result(NAME, FAIL, key=why)
    tol = {k: prof[k] for k in TOLERANCES}
    failures = [
        msg for ok, msg in (
            (got['losses_finite'], 'a loss is not finite'),
            (got['loss_last5'] < got['loss_first5'], 'the loss did not fall'),
            (got['amp_logits_dtype'] == prof['amp_dtype'],
             f"autocast gave {got['amp_logits_dtype']} logits"),
            (got['logit_diff_rel'] <= tol['max_logit_diff_rel'],
             'AMP logits differ from fp32'),
            (got['code_agreement'] >= tol['min_code_agreement'],
             'AMP codes differ from fp32'),
            (got['level_diff'] <= tol['max_level_diff'],
             'AMP predictions differ from fp32'),
        ) if not ok  # NaN compares False: a failure
    ]
    got['tolerances'] = tol
    got['failures'] = failures
    key = (f"{got['optim_wrapper']} {got['iters']} it: loss "
           f"{got['loss_first5']:.4f} -> {got['loss_last5']:.4f}; "
           f"{got['amp_dtype']} vs fp32: max |logit diff| / std "
           f"{got['logit_diff_rel']:.2g} (<= {tol['max_logit_diff_rel']:g}),"
           f" codes {100 * got['code_agreement']:.2f}% equal (>= "
           f"{100 * tol['min_code_agreement']:g}%), predictions "
           f"{got['level_diff']:.2f} levels apart (<= "
           f"{tol['max_level_diff']:g}), masks {got['pixel_diff']:.1e} apart")
    if failures:
        key = '; '.join(failures) + ' | ' + key
    return Result(NAME, FAIL if failures else PASS, key=key, details=got)
