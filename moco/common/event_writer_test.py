"""Reads the event files event_writer_test.cc wrote with TensorBoard's own reader and checks
every scalar: tags, steps and values. Usage: event_writer_test.py DIR"""
import sys

from tensorboard.backend.event_processing import event_accumulator

acc = event_accumulator.EventAccumulator(sys.argv[1], size_guidance={event_accumulator.SCALARS: 0})
acc.Reload()
tags = sorted(acc.Tags()["scalars"])
assert tags == ["knn/top1", "train/loss"], tags
loss = [(e.step, round(e.value, 4)) for e in acc.Scalars("train/loss")]
assert loss == [(1, 5.25), (2, 4.5), (3, 4.125)], loss
knn = [(e.step, round(e.value, 4)) for e in acc.Scalars("knn/top1")]
assert knn == [(3, 42.5), (4, 0.0)], knn
print("tensorboard read", {t: len(acc.Scalars(t)) for t in tags})
