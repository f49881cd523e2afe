"""Model files in and out: safetensors and ONNX read and written with NumPy alone, and the MLP each holds.

Nothing here knows a run folder (store/ does) or executes code from a file: safetensors is a
JSON header and raw bytes, ONNX a protobuf decoded field by field; a pickle is never loaded.
"""
