"""Mini-batches of graphs: :class:`DataLoader`."""
import numpy as np

from fastgnn._runtime import validate as V
from fastgnn._runtime.random import as_generator
from fastgnn.data.batch import Batch

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over a dataset of graphs in :class:`Batch` es.

    Parameters
    ----------
    dataset : sequence of GraphData
        Anything with ``len`` and integer indexing (a list,
        :class:`fastgnn.datasets.TUDataset`, ...).
    batch_size : int
        Graphs per batch (the last batch may be smaller, see ``drop_last``).
    shuffle : bool
        Visit the graphs in a new random order every epoch (every
        ``iter(loader)``).
    rng : int, numpy.random.Generator or None
        Source of the orders: with an int, the sequence of epoch orders is
        the same in every run (epoch ``k`` of one run equals epoch ``k`` of
        another). None draws fresh entropy.
    drop_last : bool
        Skip the last batch when it is smaller than ``batch_size``.

    Notes
    -----
    Batches are built on the fly (:meth:`Batch.from_graphs`, ``O(N + E)``
    per batch), in the calling thread.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, rng=None, drop_last=False):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"dataset must be a sequence of GraphData, got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = _check_batch_size(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = as_generator(rng)

    def __len__(self):
        """Number of batches per epoch."""
        count = len(self.dataset)
        if self.drop_last:
            return count // self.batch_size
        return -(-count // self.batch_size)

    def order(self):
        """The dataset positions of the next epoch, in visiting order (advances the generator when shuffling)."""
        count = len(self.dataset)
        if self.shuffle:
            return self.rng.permutation(count)
        return np.arange(count)

    def __iter__(self):
        order = self.order()
        stop = len(self) * self.batch_size
        for start in range(0, min(stop, order.shape[0]), self.batch_size):
            positions = order[start:start + self.batch_size]
            yield Batch.from_graphs([self.dataset[int(position)] for position in positions])

    def __repr__(self):
        return (f"DataLoader(num_graphs={len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last})")


def _check_batch_size(batch_size):
    batch_size = V.as_int(batch_size, "batch_size", "a positive int")
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size}")
    return batch_size
