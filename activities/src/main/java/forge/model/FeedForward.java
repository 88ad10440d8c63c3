package forge.model;

import ai.djl.ndarray.NDArray;

import java.util.Map;

/** The position-wise half of a {@link Block}. */
interface FeedForward {
    /** x (B*T, C), pre-normalised → (B*T, C); the pass gives dropout's switch and the compute dtype. */
    NDArray forward(NDArray x, Pass p);

    /** Its linears by module path inside the block ("mlp.c_fc", "mlp.gate_proj", ...), for LoRA. */
    Map<String, Linear> linears();
}
