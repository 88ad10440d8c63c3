package forge.model;

import ai.djl.ndarray.NDArray;

/** A normalisation over the last axis: x (N, C) → (N, C). */
interface Norm {
    NDArray forward(NDArray x);
}
