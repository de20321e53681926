"""Datasets, the retrieval wrapper and data transforms of PromptHub."""
from projects.prompthub.structures.record_contract import MissingRecordKeyError
from .coco20i import Coco20iDataset
from .data_check import check_data_paths, check_dataset_paths
from .holdout import HoldoutSubset, holdout_names
from .imagenet_colorization import ImageNetColorizationDataset
from .pascal5i import Pascal5iDataset
from .retrieval_augmented_dataset import RetrievalAugmentedDataset
from .stock_seg_to_vicl import StockSegToVICL
from .synthetic_vicl import LookalikeVICLDataset, SyntheticVICLDataset
from .transforms import (LoadVICLInferencePair, LoadVICLPair, PackVICLInputs,
                         PromptReplacement)
from .voc_single_object import VOCSingleObjectDataset

__all__ = [
    'Coco20iDataset', 'HoldoutSubset', 'ImageNetColorizationDataset',
    'LoadVICLInferencePair', 'LoadVICLPair', 'MissingRecordKeyError',
    'PackVICLInputs', 'Pascal5iDataset', 'PromptReplacement',
    'RetrievalAugmentedDataset', 'StockSegToVICL', 'LookalikeVICLDataset',
    'SyntheticVICLDataset', 'VOCSingleObjectDataset', 'check_data_paths',
    'check_dataset_paths', 'holdout_names'
]
