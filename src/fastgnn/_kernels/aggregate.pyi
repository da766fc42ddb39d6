import numpy as np

def gather_sum(out: np.ndarray, x: np.ndarray, indptr: np.ndarray, indices: np.ndarray | None,
               coef: np.ndarray | None, scale: np.ndarray | None, row_mean: bool,
               edge_id: np.ndarray | None, dot_with: np.ndarray | None, dot_out: np.ndarray | None,
               n_threads: int) -> None: ...
def gather_extremum(is_min: bool, out: np.ndarray, arg: np.ndarray, x: np.ndarray, indptr: np.ndarray,
                    indices: np.ndarray | None, coef: np.ndarray | None, n_threads: int) -> None: ...
def extremum_backward(grad_x: np.ndarray, g: np.ndarray, arg: np.ndarray, indptr: np.ndarray,
                      indices: np.ndarray | None, coef: np.ndarray | None, x: np.ndarray | None,
                      grad_w: np.ndarray | None, n_threads: int, t_indptr: np.ndarray | None = ...,
                      t_indices: np.ndarray | None = ..., edge_id: np.ndarray | None = ...,
                      coef_t: np.ndarray | None = ...) -> int: ...
def edge_dot(out: np.ndarray, a: np.ndarray, b: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
             n_threads: int) -> None: ...
