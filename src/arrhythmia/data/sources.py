"""Citations and licences of the data sources, shown in reports and the README."""

from __future__ import annotations

CITATIONS = {
    "mitdb": (
        "MIT-BIH Arrhythmia Database v1.0.0 (PhysioNet), Open Data Commons Attribution License v1.0. "
        "Moody GB, Mark RG. The impact of the MIT-BIH Arrhythmia Database. IEEE Eng Med Biol 20(3):45-50 (2001). "
        "Goldberger AL et al. PhysioBank, PhysioToolkit, and PhysioNet. Circulation 101(23):e215-e220 (2000)."
    ),
    "heartbeat": (
        "ECG Heartbeat Categorization data set, derived from the MIT-BIH Arrhythmia and PTB Diagnostic ECG "
        "databases (PhysioNet, ODC-By 1.0). Kachuee M, Fazeli S, Sarrafzadeh M. ECG Heartbeat Classification: "
        "A Deep Transferable Representation. IEEE ICHI 2018 (arXiv:1805.00794)."
    ),
    "synthetic": "SYNTHETIC data made by arrhythmia.data.synthetic (Gaussian-wave beat model); not real ECG.",
}


def citation(source: str) -> str:
    """The citation for a beat set's ``source`` name; WFDB databases other than mitdb get a generic line."""
    for key, text in CITATIONS.items():
        if source.startswith(key):
            return text
    return f"WFDB database '{source}' (PhysioNet). Goldberger AL et al. Circulation 101(23):e215-e220 (2000)."
