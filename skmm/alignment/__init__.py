"""skmm.alignment."""
__all__ = []
