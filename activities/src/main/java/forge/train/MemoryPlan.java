package forge.train;

import forge.checkpoint.CheckpointBuffers;

import forge.model.GptConfig;
import forge.model.Precision;
import forge.tensor.TorchOps;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What one training stage needs in memory, worked out from its shapes before anything is allocated, so a stage that
 * cannot fit is refused at start (see {@link MemoryCheck}) rather than dying of an OOM after a day. The same numbers
 * are the table in BENCHMARKS.md ("Memory model").
 *
 * <p>Per parameter (P all parameters, P_t the trainable ones: all of them, or only the adapters under LoRA):
 * <ul>
 *   <li>weights: 4 B (fp32); under bf16/fp16 a 2-byte working copy on top of the fp32 master weights (6 B);
 *   <li>gradients: 4 B per trainable parameter (fp32, on the master weights);
 *   <li>AdamW moments: 8 B per trainable parameter (m and v, fp32);
 *   <li>frozen models (PPO/GRPO/DPO references, reward model, critic when frozen): weights only, as above;
 *   <li>checkpoint buffers: host RAM, {@code checkpointBufferBytes} as the caller passes it.
 * </ul>
 *
 * <p>Activations: per token, per block, what this repo's forward keeps for backward (counted tensor by tensor from
 * what libtorch's autograd saves for each op of {@code forge.model}; the same method as Korthikanti et al. 2022,
 * "Reducing Activation Recomputation in Large Transformer Models", whose 34·h + 5·a·s counts a fused Megatron block
 * in 2-byte activations). In elements, h the width, I the MLP width, a the heads, s the sequence:
 * <ul>
 *   <li>GPT-2: attention 6·h + a·s (ln_1 in, c_attn in, q k v, c_proj in; the softmax output), MLP 18·h (ln_2 in,
 *       c_fc in, and the tanh-GELU's four 4·h tensors in DJL's ops);
 *   <li>Llama family: attention 7·h + a·s (RMSNorm keeps its input and normalised output), MLP 3·h + 5·I (silu's
 *       sigmoid, gate, silu·gate, up and their product); q and the repeated k, v count as h each;
 *   <li>with the fused TorchScript kernels ({@code forge.tensor.TorchOps}, the default): attention keeps its output and
 *       a log-sum-exp per head (h + a) instead of the a·s weights unless dropout is on, GELU keeps only its input
 *       (GPT-2's MLP 10·h) and SiLU no sigmoid (Llama's MLP 3·h + 4·I);
 *   <li>dropout &gt; 0 adds the attention dropout's output (a·s) and byte mask (a·s/4 in 4-byte elements) and, for
 *       GPT-2, the residual dropouts' masks (2·h).
 * </ul>
 * times the activation element size (4 B fp32, 2 B bf16/fp16), times batch × sequence × layers. The head keeps the
 * logits and their log-softmax (2·V per token, fp32 even under autocast, as torch keeps log_softmax in fp32) and
 * backward briefly holds their gradients (2·V more). Backward also holds one block's activation gradients at a time
 * (one more block). With activation checkpointing a block keeps only its input (h per token) and one block at a time
 * is recomputed, so the blocks cost layers·h + one block. LoRA keeps the same activations here (an upper bound: a
 * frozen linear does not need its input).
 *
 * <p>Not counted: the engine itself (libtorch, the JVM heap, the data; {@link #RUNTIME_BYTES}, a fixed allowance
 * measured here), allocator fragmentation (the margin in {@link MemoryCheck}), and the KV cache and batch of a
 * rollout (PPO/GRPO generation is inference: far less than the training step it precedes).
 *
 * @param stage  the stage, for the message
 * @param device "cpu" or "cuda:N": on CUDA the parts except the checkpoint buffers are GPU memory
 * @param parts  in the order the message lists them
 */
public record MemoryPlan(String stage, String device, List<Part> parts) {
    /** libtorch, the JVM and what a stage holds besides tensors, measured on CPU (BENCHMARKS.md, "Memory model"). */
    public static final long RUNTIME_BYTES = 600L << 20;

    /** One line of the plan; host parts are RAM even when the stage trains on a GPU. */
    public record Part(String name, long bytes, boolean host, String detail) {
        Part(String name, long bytes, boolean host) {
            this(name, bytes, host, "");
        }
    }

    /**
     * What to plan for.
     *
     * @param model                   the trained model
     * @param trainableParams         parameters with gradients and moments (LoRA: the adapters, see
     *                                {@code LoraConfig.parameterCount}; a scalar head adds nEmbd)
     * @param frozen                  other models the stage loads and does not train
     * @param batchSize               rows per micro-batch ({@code train.batch_size})
     * @param seqLen                  tokens per row (block size, or the stage's longest sequence)
     * @param checkpointBufferBytes   host bytes a checkpoint holds while it is written (see
     *                                {@link #checkpointBuffers})
     * @param trainedCopies           copies of the trained model that run forward and backward at once: 1, or 2
     *                                where a stage trains a second model of the same shape (PPO's value model)
     */
    public record Inputs(String stage, String device, GptConfig model, long trainableParams, List<GptConfig> frozen,
                         int batchSize, int seqLen, Precision precision, boolean activationCheckpointing,
                         long checkpointBufferBytes, int trainedCopies) {
        public Inputs {
            frozen = List.copyOf(frozen);
            if (trainableParams < 0 || batchSize <= 0 || seqLen <= 0 || trainedCopies < 1) {
                throw new IllegalArgumentException("trainable " + trainableParams + ", batch " + batchSize
                        + ", seq " + seqLen + ", copies " + trainedCopies);
            }
        }

        /** A plain stage: every parameter trained, nothing frozen, today's checkpoint buffers. */
        public static Inputs full(String stage, String device, GptConfig model, int batchSize, int seqLen,
                                  Precision precision) {
            long p = model.parameterCount();
            return new Inputs(stage, device, model, p, List.of(), batchSize, seqLen, precision, false,
                    checkpointBuffers(p, p), 1);
        }
    }

    /**
     * Host bytes of checkpoints in flight: the training thread's host copy of the weights and moments (4 B per
     * parameter and 8 B per trainable one; the loop waits for the previous upload before it copies, so there is one
     * copy), and the streaming writer's part buffers ({@link CheckpointBuffers#peakBytes}: 88 MiB with the production
     * client, whatever the model's size; docs/checkpoints.md).
     */
    public static long checkpointBuffers(long params, long trainableParams) {
        long state = 4 * params + 8 * trainableParams;
        return state + CheckpointBuffers.peakBytes(CheckpointSpec.DEFAULT_SHARD_SIZE_MB * forge.tensor.ShardedSafetensors.MB);
    }

    public static MemoryPlan of(Inputs in) {
        GptConfig m = in.model();
        Precision pr = in.precision();
        long params = m.parameterCount();
        long trainable = in.trainableParams();
        int copies = in.trainedCopies();
        List<Part> parts = new ArrayList<>();
        parts.add(new Part("weights", copies * params * weightBytes(pr), false));
        parts.add(new Part("grads", copies * trainable * 4, false));
        parts.add(new Part("moments", copies * trainable * 8, false));
        long frozen = 0;
        for (GptConfig f : in.frozen()) {
            frozen += f.parameterCount() * weightBytes(pr);
        }
        if (frozen > 0) {
            parts.add(new Part("frozen models", frozen, false));
        }
        parts.add(new Part("activations", copies * activationBytes(m, in.batchSize(), in.seqLen(), pr,
                in.activationCheckpointing()), false, " at batch_size " + in.batchSize() + " × " + in.seqLen()
                + " tokens" + (in.activationCheckpointing() ? " with activation checkpointing" : "")));
        parts.add(new Part("checkpoint buffers", in.checkpointBufferBytes(), true));
        return new MemoryPlan(in.stage(), in.device(), List.copyOf(parts));
    }

    /** The fp32 master of a weight, plus its working copy in a 16-bit compute dtype. */
    private static long weightBytes(Precision pr) {
        return 4 + (pr == Precision.FP32 ? 0 : pr.bytes());
    }

    /** Activation bytes of one forward and backward at this batch (see the class comment). */
    public static long activationBytes(GptConfig m, int batch, int seq, Precision pr, boolean checkpointing) {
        return activationBytes(m, batch, seq, pr, checkpointing, TorchOps.available());
    }

    /** fused: whether the TorchScript kernels run (see {@link TorchOps}); they save less for backward. */
    static long activationBytes(GptConfig m, int batch, int seq, Precision pr, boolean checkpointing, boolean fused) {
        long tokens = (long) batch * seq;
        long block = blockElements(m, seq, fused) * pr.bytes();
        long blocks = checkpointing
                ? (long) m.nLayer() * m.nEmbd() * pr.bytes() + block      // kept inputs + the one recomputed
                : (long) m.nLayer() * block;
        long backward = block;                                             // one block's gradients at a time
        long head = 4L * m.vocabSize() * 4 + 2L * m.nEmbd() * pr.bytes();  // logits, log-softmax, their grads
        return tokens * (blocks + backward + head);
    }

    /** Elements one block keeps per token for backward at sequence length seq. */
    static long blockElements(GptConfig m, int seq, boolean fused) {
        long h = m.nEmbd();
        long attnRows = (long) m.nHead() * seq;                 // the softmax output, a·s per token
        // Fused attention without dropout keeps its output and a log-sum-exp per head instead of the weights.
        long attention = fused && m.dropout() == 0 ? h + m.nHead() : attnRows;
        long e;
        if (m.architecture().isGpt2()) {
            e = 6 * h + attention + (fused ? 10 * h : 18 * h);  // one-kernel GELU keeps only its input
        } else {
            e = 7 * h + attention + 3 * h + (fused ? 4L : 5L) * m.intermediateSize(); // one-kernel SiLU: no sigmoid
        }
        if (m.dropout() > 0) {
            // Attention dropout keeps a mask and its output (a·s each, the mask at a byte: counted as a quarter);
            // GPT-2's residual and embedding dropouts a mask per output (h each).
            e += attnRows + (attnRows + 3) / 4 + (m.architecture().isGpt2() ? 2 * h : 0);
        }
        return e;
    }

    public long total() {
        return parts.stream().mapToLong(Part::bytes).sum();
    }

    /** Bytes on the device the stage trains on (everything but the host parts on CUDA; everything on CPU). */
    public long deviceBytes() {
        return parts.stream().filter(p -> !onCuda() || !p.host()).mapToLong(Part::bytes).sum();
    }

    /** Host RAM besides the runtime: the host parts on CUDA, everything on CPU. */
    public long hostBytes() {
        return onCuda() ? parts.stream().filter(Part::host).mapToLong(Part::bytes).sum() : total();
    }

    public boolean onCuda() {
        return device.startsWith("cuda");
    }

    public long bytes(String part) {
        return parts.stream().filter(p -> p.name().equals(part)).mapToLong(Part::bytes).sum();
    }

    /** "weights 2.8 + grads 2.8 + ..." in GiB, the parts that live where filter says. */
    String terms(boolean hostOnly) {
        StringBuilder sb = new StringBuilder();
        for (Part p : parts) {
            if (p.bytes() == 0 || (hostOnly && !p.host()) || (!hostOnly && onCuda() && p.host())) {
                continue;
            }
            if (!sb.isEmpty()) {
                sb.append(" + ");
            }
            sb.append(p.name()).append(' ').append(gib(p.bytes())).append(p.detail());
        }
        return sb.toString();
    }

    /** GiB with enough digits that a small plan does not read as 0. */
    public static String gib(long bytes) {
        double g = bytes / (double) (1L << 30);
        return String.format(Locale.ROOT, g >= 10 ? "%.1f" : g >= 0.1 ? "%.2f" : "%.3f", g);
    }
}
