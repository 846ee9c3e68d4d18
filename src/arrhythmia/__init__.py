"""arrhythmia: heartbeat classification in ECG signals with 1D convolutional networks."""

__version__ = "0.1.0"
