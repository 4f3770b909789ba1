"""The learned models: encoders, generator, behavior, text steering. Each nn.Module is a top-level class with its own config."""
