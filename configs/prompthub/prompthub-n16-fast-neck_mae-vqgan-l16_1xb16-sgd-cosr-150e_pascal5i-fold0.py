# Fast fusion neck, NOT the reference: no prompt alignment, and keys that
# see each prompt image token's label token directly (label keys,
# zero-initialised: training starts from the reference neck minus its
# prompt alignment); FastLocalityFusionNeck. Counted at B=16 (full
# size): the neck is 4.1% of a training step at N=16 instead of 13.7%, and
# a step at N=64 costs 1.13x one at N=1 instead of 1.62x (docs/
# benchmarks.md). On the CPU demo it scores within about 0.02 IoU of the
# reference neck (N=4 0.505 vs 0.509; 0.482 vs 0.498 with training seed 1);
# on Pascal-5i it is not measured. The released PromptHub checkpoints do
# not load into it (no prompt_align.* weights).
_base_ = './prompthub-n16_mae-vqgan-l16_1xb16-sgd-cosr-150e_pascal5i-fold0.py'  # noqa: E501

model = dict(neck=dict(type='FastLocalityFusionNeck'))
