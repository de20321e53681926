"""The VTAB-1k benchmark of HGPrompt: per-task configs, the evaluation
protocol (grid on val200, final runs on train800val200, seeds on test)
and the aggregation of its results."""
