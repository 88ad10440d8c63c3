package forge.tensor;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.engine.PtSymbolBlock;
import ai.djl.pytorch.jni.IValueUtils;
import ai.djl.pytorch.jni.JniUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * libtorch kernels that DJL 0.36 does not bind, called through one-op TorchScript modules built in memory
 * ({@link TorchScriptArchive}) and run with autograd on, so each is one fused kernel forward and one backward where
 * DJL's own ops would take several, each reading and writing the whole tensor:
 *
 * <ul>
 *   <li>{@link #attention}: torch's scaled_dot_product_attention, whose fused kernels (flash on CPU and CUDA where
 *       the inputs allow) keep a log-sum-exp per row for backward instead of the (B, nh, T, S) weights;
 *   <li>{@link #geluTanh} and {@link #silu}: GPT-2's gelu_new and Llama's SiLU in one kernel each (DJL has only the
 *       exact erf GELU, and gelu_new spelled in DJL ops is six kernels and five saved tensors);
 *   <li>{@link #toBfloat16}, {@link #toFloat16}, {@link #toFloat32}: differentiable casts. DJL's toType runs
 *       without grad and its dtype table has no bfloat16 at all (asking for one aborts the JVM); a bfloat16 tensor
 *       made here passes through DJL's matmul, reshape and add untouched, and reports DataType.UNKNOWN.
 * </ul>
 *
 * <p>On the baby Shakespeare config these and glibc's malloc settings in {@code ./forge} take the bare loop from
 * 0.93× to 1.24× PyTorch eager's tokens/s; the kernels' own share is 1.08× (BENCHMARKS.md, "CPU speed"). The modules
 * load once per process, the
 * first time one is used; if loading fails, {@link #available()} is false and callers use their DJL-only paths
 * (bfloat16 then refuses to run). {@code -Dforge.torch_ops=false} or {@link #setEnabled} force those paths, for
 * benchmarks and the tests that compare the two.
 */
public final class TorchOps {
    private static final Logger LOG = LoggerFactory.getLogger(TorchOps.class);
    private static volatile boolean enabled = !"false".equals(System.getProperty("forge.torch_ops"));

    private TorchOps() {
    }

    /** One compiled module per kernel. */
    private record Kernels(PtSymbolBlock geluTanh, PtSymbolBlock silu, PtSymbolBlock sdpa, PtSymbolBlock sdpaMasked,
                           PtSymbolBlock sdpaCausal, PtSymbolBlock toBf16, PtSymbolBlock toF16, PtSymbolBlock toF32) {
        static Kernels load() {
            // Never closed: the modules live as long as the process, like the engine.
            NDManager owner = NDManager.newBaseManager();
            // sdpa's arguments are (query, key, value, attn_mask, dropout_p, is_causal): the scale is 1/√d, every
            // model's here.
            return new Kernels(
                    module(owner, "GeluTanh", "x: Tensor) -> Tensor", "return torch.gelu(x, approximate=\"tanh\")"),
                    module(owner, "Silu", "x: Tensor) -> Tensor", "return torch.silu(x)"),
                    module(owner, "Sdpa", "q: Tensor, k: Tensor, v: Tensor) -> Tensor",
                            "return torch.scaled_dot_product_attention(q, k, v, None, 0., False)"),
                    module(owner, "SdpaMasked", "q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor",
                            "return torch.scaled_dot_product_attention(q, k, v, mask, 0., False)"),
                    module(owner, "SdpaCausal", "q: Tensor, k: Tensor, v: Tensor) -> Tensor",
                            "return torch.scaled_dot_product_attention(q, k, v, None, 0., True)"),
                    module(owner, "ToBfloat16", "x: Tensor) -> Tensor", "return torch.to(x, 15)"),
                    module(owner, "ToFloat16", "x: Tensor) -> Tensor", "return torch.to(x, 5)"),
                    module(owner, "ToFloat32", "x: Tensor) -> Tensor", "return torch.to(x, 6)"));
        }

        private static PtSymbolBlock module(NDManager owner, String name, String signature, String body) {
            byte[] archive = TorchScriptArchive.module(name, signature, "    " + body + "\n");
            try {
                return JniUtils.loadModule((PtNDManager) owner, new ByteArrayInputStream(archive), false, false);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    /** The kernels, loaded on first use; null, with {@code ERROR} saying why, when they could not be. */
    private static final class Loaded {
        static final Kernels KERNELS;
        static final String ERROR;

        static {
            Kernels kernels = null;
            String error = null;
            try {
                kernels = Kernels.load();
            } catch (RuntimeException e) {
                error = e.getClass().getSimpleName() + ": " + e.getMessage();
                LOG.warn("TorchScript kernels did not load ({}); training uses DJL's ops only and bf16 cannot run",
                        error);
            }
            KERNELS = kernels;
            ERROR = error;
        }
    }

    /** Whether the fused kernels are on and loaded; callers fall back to DJL's ops when not. */
    public static boolean available() {
        return enabled && Loaded.ERROR == null;
    }

    /** Why the kernels are not available, for an error message; null when they are. */
    public static String unavailableReason() {
        if (!enabled) {
            return "TorchScript kernels are switched off (-Dforge.torch_ops=false)";
        }
        return Loaded.ERROR == null ? null : "TorchScript kernels did not load: " + Loaded.ERROR;
    }

    /** Switches the fused kernels off or on again for this process: for benchmarks and equivalence tests. */
    public static void setEnabled(boolean on) {
        enabled = on;
    }

    /** gelu_new: 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))), any float dtype. */
    public static NDArray geluTanh(NDArray x) {
        return call(kernels().geluTanh(), x);
    }

    /** x·sigmoid(x), any float dtype. */
    public static NDArray silu(NDArray x) {
        return call(kernels().silu(), x);
    }

    /**
     * softmax(q·kᵀ/√d + mask)·v: q (B, nh, T, d), k and v (B, nh, S, d), all one dtype → (B, nh, T, d) in it.
     * mask is additive (0 or -inf) in q's dtype and broadcasts to (B, nh, T, S), or null; causal (mask must then be
     * null) hides key j from query i where j > i, aligned at the top left, so it is right only when T = S.
     */
    public static NDArray attention(NDArray q, NDArray k, NDArray v, NDArray mask, boolean causal) {
        if (causal && mask != null) {
            throw new IllegalArgumentException("a causal attention takes no mask");
        }
        if (causal) {
            return call(kernels().sdpaCausal(), q, k, v);
        }
        return mask == null ? call(kernels().sdpa(), q, k, v) : call(kernels().sdpaMasked(), q, k, v, mask);
    }

    public static NDArray toBfloat16(NDArray x) {
        return call(kernels().toBf16(), x);
    }

    public static NDArray toFloat16(NDArray x) {
        return call(kernels().toF16(), x);
    }

    public static NDArray toFloat32(NDArray x) {
        return call(kernels().toF32(), x);
    }

    private static Kernels kernels() {
        if (!available()) {
            throw new IllegalStateException(unavailableReason());
        }
        return Loaded.KERNELS;
    }

    private static NDArray call(PtSymbolBlock fn, NDArray... inputs) {
        NDList args = new NDList(inputs.length);
        for (NDArray a : inputs) {
            // DJL passes an array whose name has a dot ("h.0.attn.c_attn.weight") as a dict entry, not a tensor; a
            // view has no name and shares the storage and the autograd history.
            args.add(a.getName() == null ? a : a.reshape(a.getShape()));
        }
        // Grad mode decides whether the call is recorded, as for any other op: on under a GradientCollector.
        return IValueUtils.forward(fn, args, JniUtils.isGradMode()).singletonOrThrow();
    }
}
