"""Train-on-test at evaluation time: does a method's training data include the images it is scored on?

Two sources, the first that applies wins: the training record inside the loaded weights (msdr checkpoints keep
the name and fingerprint of every training set: a matching fingerprint means the very same images, a matching
name another copy of that set), then, for the declared weights, the method's `training_overlaps` (dataset name
-> why, e.g. shared backgrounds) and its `training_datasets`. Either way, a training set that the evaluated
set's card names in `shares_images_with` counts too (Rain12 holds 8 of RainTrainL's backgrounds). A run warns,
and records the reason in its results; it does not refuse, since scoring training images is sometimes the point
(an overfitting check), but it never does so without saying.
"""


def training_overlap(method: dict, dataset: dict) -> str | None:
    """Why `method` (MethodSpec.describe() plus loaded weights) was trained on `dataset` (Dataset.describe()),
    or None when nothing says so."""
    loaded = method.get("loaded_weights") or {}
    metadata = loaded.get("metadata") or {}
    training_sets = ((metadata.get("training") or {}).get("datasets") or {}).get("train") or []
    for trained in training_sets:
        if trained.get("fingerprint") and trained.get("fingerprint") == dataset.get("fingerprint"):
            return f"trained on these very images (its checkpoint records {trained.get('name')} with this fingerprint)"
    for trained in training_sets:
        if trained.get("name") == dataset.get("name"):
            return f"its checkpoint records training on a copy of {dataset['name']}"
    shared = dataset.get("shares_images_with") or {}
    for trained in training_sets:
        if trained.get("name") in shared:
            return f"its checkpoint records training on {trained['name']}: {shared[trained['name']]}"
    if loaded.get("source") == "user":  # the declared overlaps describe the declared weights only
        return None
    if declared := (method.get("training_overlaps") or {}).get(dataset.get("name")):
        return declared
    for name in method.get("training_datasets") or ():
        if name == dataset.get("name"):
            return f"trained on {name}"
        if name in shared:
            return f"trained on {name}: {shared[name]}"
    return None
