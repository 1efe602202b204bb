"""The membership audit (blind-baseline protocol): phase 1 blind baselines
(:mod:`~telltale.membership.blind`, :mod:`~telltale.membership.acoustic`), phase 2 the
indicator-vector attack, phase 3 modality disentanglement."""
