"""The engine: array backend, dense ReLU networks with hand-written gradients, losses, optimizers."""
