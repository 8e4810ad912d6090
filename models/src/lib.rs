//! Sluice networks on the engine: weight loading and per-stream model state (DeepFilterNet3, ESPCN, clutter filter arrive with their issues).
