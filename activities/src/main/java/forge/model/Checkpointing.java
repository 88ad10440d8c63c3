package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDScope;
import ai.djl.training.GradientCollector;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Activation (gradient) checkpointing per block, for one micro-batch: the forward keeps only each block's input
 * (B*T, C) and backward recomputes one block at a time. DJL has no torch.utils.checkpoint, so backward runs in
 * passes, all under the caller's GradientCollector (grads accumulate in the parameters across backward calls, as
 * they do across micro-batches):
 * <ol>
 *   <li>forward: each block runs on a detached copy of its input; its output is detached and the block's graph (and
 *       every activation it saved) is freed when its scope closes;
 *   <li>the final norm, the head and the loss run with grad from a leaf copy of the last block's output: backward
 *       gives the head's grads and the gradient g at the top of the stack;
 *   <li>block i, from the top down: recomputed with grad from a leaf copy of its kept input, backward of
 *       sum(out · g) (whose gradient with respect to out is exactly g) gives the block's grads and the next g;
 *   <li>the embedding, whose small graph (it saves only the ids) was kept: backward of sum(x₀ · g).
 * </ol>
 * The recomputed block is the same computation on the same input, so the gradients equal the plain backward's up to
 * the order libtorch sums a tied embedding's two contributions (CheckpointingTest). Dropout would draw a second mask
 * on recomputation, so a model with dropout is refused.
 */
final class Checkpointing {
    private final List<Block> blocks;
    private final GradientCollector gc;
    private final Function<NDArray, NDArray> lossOf;
    private final List<NDArray> inputs = new ArrayList<>();
    private NDArray embedded;               // x₀ with its graph, for the last backward pass
    private NDArray top;                    // the leaf the head ran from

    Checkpointing(List<Block> blocks, GradientCollector gc, Function<NDArray, NDArray> lossOf) {
        this.blocks = blocks;
        this.gc = gc;
        this.lossOf = lossOf;
    }

    /** Pass 1: x₀ (B*T, C) → the leaf the final norm starts from (B*T, C); keeps the block inputs only. */
    NDArray forward(NDArray x0, Pass p) {
        embedded = x0;
        NDArray x = x0.stopGradient();
        for (Block block : blocks) {
            inputs.add(x);
            try (NDScope blockScope = new NDScope()) {
                NDArray next = block.forward(x, p).stopGradient();          // shares storage; drops the graph
                NDScope.unregister(next);
                x = next;
            }
            NDScope.register(x);
        }
        top = leaf(x);
        return top;
    }

    /** Passes 2–4 from the logits (B, T, V); returns the loss, detached. */
    NDArray backward(NDArray logits, Pass p) {
        NDArray loss = lossOf.apply(logits);
        gc.backward(loss);
        NDArray g = gradientOf(top);
        for (int i = blocks.size() - 1; i >= 0; i--) {
            try (NDScope blockScope = new NDScope()) {
                NDArray x = leaf(inputs.get(i));
                NDArray out = blocks.get(i).forward(x, p);                    // (B*T, C), recorded
                gc.backward(out.mul(g).sum());
                NDArray next = gradientOf(x);
                NDScope.unregister(next);
                g.close();
                g = next;
            }
            NDScope.register(g);
        }
        gc.backward(embedded.mul(g).sum());
        return loss.stopGradient();
    }

    /** A copy of x that backward stops at and keeps the gradient of. */
    private static NDArray leaf(NDArray x) {
        NDArray l = x.stopGradient().duplicate();
        l.setRequiresGradient(true);
        return l;
    }

    private static NDArray gradientOf(NDArray leaf) {
        try (NDArray grad = leaf.getGradient()) {
            return grad.duplicate();
        }
    }
}
