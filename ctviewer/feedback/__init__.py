"""Radiologists' decisions and what the model learns from them.

- `store`: the SQLite feedback store (decisions; the same file holds the model versions);
- `versions`: learned model versions, the active one, promotion and rollback;
- `pool`: the rule that turns decisions into normal training material and labelled images;
- `learn`: incremental learning (fine-tune, recalibrate, guarded promotion);
- `validation`: folds, metrics, threshold recalibration and the promotion guard;
- `carry`: decisions carried over to a re-analysis of the same series.
"""
