"""PyTorch's own generic optimizer tests, run against superaccel's optimizers."""
