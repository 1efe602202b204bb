"""The membership audit (blind-baseline protocol): phase 1 blind baselines, phase 2 the
indicator-vector attack, phase 3 modality disentanglement."""
