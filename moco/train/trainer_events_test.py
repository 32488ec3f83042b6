"""Reads a real run's TensorBoard event files with TensorBoard's own reader and checks the
scalars the trainer writes. Usage: trainer_events_test.py DIR STEPS EPOCHS LOG_EVERY

Prints each tag with its number of points (the counts the note on the change quotes)."""
import sys

from tensorboard.backend.event_processing import event_accumulator

folder, steps, epochs, log_every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
acc = event_accumulator.EventAccumulator(folder, size_guidance={event_accumulator.SCALARS: 0})
acc.Reload()
counts = {tag: len(acc.Scalars(tag)) for tag in sorted(acc.Tags()["scalars"])}
print("tensorboard scalars:", counts)
for tag in ["train/loss", "train/pretext_top1", "train/lr", "train/data_wait_percent", "epoch/loss",
            "epoch/pretext_top1", "knn/top1"]:
    assert tag in counts, (tag, counts)
reported = sorted({s for s in range(1, steps + 1) if s % log_every == 0 or s % (steps // epochs) == 0})
loss_steps = [e.step for e in acc.Scalars("train/loss")]
assert loss_steps == reported, (loss_steps, reported)
for tag in ["train/loss", "train/pretext_top1", "train/lr", "train/data_wait_percent"]:
    assert counts[tag] == len(reported), (tag, counts)
assert counts["epoch/loss"] == counts["epoch/pretext_top1"] == epochs, counts
# kNN at initialisation (step 0) and after the last epoch.
knn = acc.Scalars("knn/top1")
assert [e.step for e in knn] == [0, steps], [e.step for e in knn]
assert all(0 < e.value <= 100 for e in knn), knn
assert all(e.value > 0 for e in acc.Scalars("train/lr"))
