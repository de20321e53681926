"""Neck configs that every neck-level property test runs over.

One list, so that a new neck option is added to all of them at once;
each test appends the variants only it needs.
"""
NECK_KINDS = [
    dict(type='LocalityFusionNeck'),
    dict(type='LocalityFusionNeck', locality='laplacian'),
    dict(type='LocalityFusionNeck', locality='global'),
    dict(type='LocalityFusionNeck', locality='learnable'),
    dict(type='LocalityFusionNeck', locality='query_adaptive'),
    dict(type='LocalityFusionNeck', locality='patchwise'),
    dict(type='LocalityFusionNeck', label_keys=True),
    dict(type='FastLocalityFusionNeck'),
    dict(type='FastLocalityFusionNeck', label_keys=False),
    dict(type='ConvFusionNeck'),
]
