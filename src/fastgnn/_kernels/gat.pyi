import numpy as np

BLOCK_ROWS: int

def gat_forward(out: np.ndarray, alpha: np.ndarray, x: np.ndarray, score_src: np.ndarray, score_dst: np.ndarray,
                indptr: np.ndarray, indices: np.ndarray, slope: float, drop: bool, threshold: int, seed: int,
                step: int, scale: float, n_threads: int) -> None: ...
def gatv2_forward(out: np.ndarray, alpha: np.ndarray, x_src: np.ndarray, x_dst: np.ndarray, att: np.ndarray,
                  indptr: np.ndarray, indices: np.ndarray, slope: float, drop: bool, threshold: int, seed: int,
                  step: int, scale: float, n_threads: int) -> None: ...
def gat_backward(grad_x: np.ndarray, grad_score_src: np.ndarray, grad_score_dst: np.ndarray, dz: np.ndarray,
                 rowsum: np.ndarray, g: np.ndarray, x: np.ndarray, out: np.ndarray, score_src: np.ndarray,
                 score_dst: np.ndarray, alpha: np.ndarray, indptr: np.ndarray, t_indptr: np.ndarray,
                 t_indices: np.ndarray, edge_id: np.ndarray, slope: float, drop: bool, threshold: int, seed: int,
                 step: int, scale: float, n_threads: int) -> None: ...
def gatv2_backward(grad_x_src: np.ndarray, grad_x_dst: np.ndarray, grad_att: np.ndarray, partials: np.ndarray,
                   scratch: np.ndarray, g: np.ndarray, x_src: np.ndarray, x_dst: np.ndarray, att: np.ndarray,
                   alpha: np.ndarray, indptr: np.ndarray, indices: np.ndarray, t_indptr: np.ndarray,
                   t_indices: np.ndarray, edge_id: np.ndarray, slope: float, drop: bool, threshold: int, seed: int,
                   step: int, scale: float, n_threads: int) -> None: ...
