"""Plant simulator: headset acoustic model, noise scenes, closed-loop reference and metrics."""

from .metrics import (
    attenuation_db,
    attenuation_over_time,
    band_attenuation_db,
    convergence_time,
    mode_analysis,
    steady_slice,
    wiener_bound,
)
from .plant import (
    FS,
    HeadsetPlant,
    end_to_end_secondary,
    estimate_secondary,
    make_plant,
    realized_phase_error,
)
from .reference import ReferenceLoop
from .run import SceneResult, run_scene
from .scenes import SCENES, describe, register, scene, scene_names

__all__ = [
    "FS", "SCENES", "HeadsetPlant", "ReferenceLoop", "SceneResult", "attenuation_db",
    "attenuation_over_time", "band_attenuation_db", "convergence_time", "describe",
    "end_to_end_secondary", "estimate_secondary", "make_plant", "mode_analysis",
    "realized_phase_error",
    "register", "run_scene", "scene", "scene_names", "steady_slice", "wiener_bound",
]
