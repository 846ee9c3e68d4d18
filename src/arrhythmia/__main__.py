"""``python -m arrhythmia``: the same command line as the ``arrhythmia`` script (and ``torchrun -m arrhythmia``)."""

from arrhythmia.cli import main

if __name__ == "__main__":
    main()
