"""edge-rep: acoustic-seismic ground-sensor classification that keeps working when a channel drops.

The package's import path stays light (numpy only): torch is imported only by the modules that train
or export models, never by the streaming daemon.
"""

__version__ = "0.1.0"
