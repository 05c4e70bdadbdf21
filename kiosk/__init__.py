"""Face-recognition attendance kiosk: the part that runs on the Raspberry Pi.

Nothing in this package may import TensorFlow; the trainer imports from here,
never the other way round.
"""

__version__ = "0.1.0"
