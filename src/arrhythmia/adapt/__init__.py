"""Patient-adaptive labelling: each recording's own beats as the reference for its labels.

A model trained on other patients meets a new patient's normal beat, lead and electrode placement for the
first time; what is abnormal *for this patient* is what departs from the patient's own usual beat and
rhythm. Beats are always cut pointing up (``detection.polarity``, in training as in ``predict``); then
five steps, each switchable (``AdaptConfig``), run on one recording's beats after they are cut:

1. **Morphology families** (``morphology_families``): the beats grouped by the shape of their QRS complex
   (average-linkage clustering on correlation distance of a subsample, every beat then joined to the
   nearest family template), as Holter software groups them for a reviewer. The largest family stands
   for the patient's usual beat.
2. **Re-estimated normalisation** (``Classifier.renormalised``, AdaBN, Li et al. 2016): the network's
   BatchNorm statistics re-estimated on the beats of the largest family, the patient's usual beat, so its
   features are normalised for this patient, lead and device (PyTorch engine; an ONNX graph has its
   statistics folded in). A family the network called V with confidence before (mean V probability at
   least ``AdaptConfig.keep_v_above``) keeps its beats' probabilities from before: normalising on a
   bundle-branch-block usual beat can pull an unmistakable V family towards N. So does a largest family
   the network calls V whose beats come early (``AdaptConfig.keep_usual_v_share``: more V beats of one
   shape than normal beats of any one shape, which normalised on their own statistics would turn N). So
   does a family the re-estimated normalisation alone made V or Q (``AdaptConfig.keep_if_made``):
   normalising on the usual beat of a lead the network has not met can push a family it called
   supraventricular to V, or a second family of the usual beat to unclassifiable.
3. **Family consensus** (``family_consensus``): every beat of a family shares its morphology (supraventricular
   N/S, V, F or Q), taken from the family's mean probabilities (``AdaptConfig.fusion_families``: whether
   the network's vote may make a family fusion); which of N and S a supraventricular beat is stays the
   beat's own call, since the two differ in timing, not in shape.
4. **The patient's rhythm**: early and on time are read against the recording's own border, placed by how much
   its regular rhythm varies (``patient_premature_ratio``). A family of its own shape whose beats come early
   in a regular rhythm is ventricular (``early_families_as_v``), and so is an early beat of the usual family
   whose QRS is less like the family's than its on-time beats' are (``unlike_early_beats_as_v``); the timing
   of the other supraventricular beats is then read against the patient's own rhythm (``rhythm_border``): a
   beat that comes early against its neighbours is S; in an irregular rhythm (atrial fibrillation) none is; a
   beat called S for its shape that comes on time, in a family of its own whose beats come on time (a sinus
   beat conducted another way), is N (``on_time_families_as_n``); and the beats of a supraventricular run, on
   time against each other but fast against the last five minutes, carry on the run of the S beat that began
   it (``supraventricular_runs``). An S call must come early against the interval before it
   (``late_against_previous_as_n``), and not only because a lone early beat before it (a false detection, an
   interpolated ventricular beat) split the usual interval (``split_intervals_as_n``).
5. **Atrial fibrillation episodes** (``supraventricular_as_n``, run by ``predict`` once the recording's
   episodes are known; off unless ``AdaptConfig.af_as_n``): no beat inside an AF episode is S.

A reviewer's labels (``reviewed``) take precedence: a labelled beat keeps its label, and the label of the
beat that stands for a family (its exemplar, ``exemplars``) or a timing group (``representatives``;
``timing_groups``: the supraventricular beats of one family that the rules called S early, S on time, N in
a fast stretch or N early in an irregular rhythm) is carried to the family's morphology (an S family's
beats all S) or to the group. ``questions`` picks those beats to ask about, so that each answer settles
a whole group, as a Holter reviewer relabels a family or a run at once.
"""

from arrhythmia.adapt.assisted import (
    TIMING_KINDS,
    apply_s_border,
    beat_count,
    describe_group,
    group_answers,
    questions,
    representatives,
    reviewed_s_border,
    reviewed_s_families,
    reviewed_timing,
    timing_groups,
    with_answers,
)
from arrhythmia.adapt.families import (
    MORPHOLOGY,
    Families,
    exemplars,
    family_consensus,
    family_medians,
    family_shares,
    morphology_families,
)
from arrhythmia.adapt.pipeline import Adaptation, AdaptConfig, adapt
from arrhythmia.adapt.rhythm import (
    Timing,
    decide_supraventricular,
    early_families_as_v,
    late_against_previous_as_n,
    lone_on_time_beats_as_n,
    on_time_families_as_n,
    patient_premature_ratio,
    relabel,
    rhythm_border,
    split_intervals_as_n,
    supraventricular_as_n,
    supraventricular_runs,
    unlike_early_beats_as_v,
)

__all__ = [
    "AdaptConfig",
    "Adaptation",
    "Families",
    "MORPHOLOGY",
    "TIMING_KINDS",
    "Timing",
    "adapt",
    "apply_s_border",
    "beat_count",
    "decide_supraventricular",
    "describe_group",
    "early_families_as_v",
    "exemplars",
    "family_consensus",
    "family_medians",
    "family_shares",
    "group_answers",
    "late_against_previous_as_n",
    "lone_on_time_beats_as_n",
    "morphology_families",
    "on_time_families_as_n",
    "patient_premature_ratio",
    "questions",
    "relabel",
    "representatives",
    "reviewed_s_border",
    "reviewed_s_families",
    "reviewed_timing",
    "rhythm_border",
    "split_intervals_as_n",
    "supraventricular_as_n",
    "supraventricular_runs",
    "unlike_early_beats_as_v",
    "timing_groups",
    "with_answers",
]
