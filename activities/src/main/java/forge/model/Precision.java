package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.pytorch.jni.JniUtils;
import forge.errors.BadInputException;
import forge.tensor.TorchOps;

import java.util.Locale;

/**
 * The dtype a forward computes its matmuls in, as torch.autocast decides it: the fp32 parameters stay the masters
 * (the optimizer and its moments never see anything else); Linear, attention's two matmuls and the LM head run on
 * casts of them; norms, softmax, the loss and every reduction stay float32. Casts are differentiable, so gradients
 * reach the fp32 masters in fp32. FP32 casts nothing: its forward is the same ops, bit for bit, as before precision
 * existed.
 *
 * <p>DJL 0.36's PyTorch JNI has no bfloat16 tensor type on any device: its dtype table stops at the eight types of
 * DJL's first release, and asking it for bfloat16 (toType, zeros, create) aborts the JVM with "terminate called
 * without an active exception". The casts therefore go through {@link TorchOps}, whose bfloat16 tensors DJL's
 * matmuls and views carry without asking their dtype (they report {@code DataType.UNKNOWN}); without those kernels
 * bf16 is refused ({@link #requireRunnable}).
 */
public enum Precision {
    FP32(DataType.FLOAT32),
    BF16(DataType.BFLOAT16),
    FP16(DataType.FLOAT16);

    private final DataType dataType;

    Precision(DataType dataType) {
        this.dataType = dataType;
    }

    /** Bytes of one element in this dtype. */
    public int bytes() {
        return this == FP32 ? 4 : 2;
    }

    /** The config's spelling: fp32, bf16, fp16. */
    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** config.json's torch_dtype for weights stored in this dtype. */
    public String torchDtype() {
        return switch (this) {
            case FP32 -> "float32";
            case BF16 -> "bfloat16";
            case FP16 -> "float16";
        };
    }

    /** The safetensors dtype name of weights stored in this dtype. */
    public String safetensorsDtype() {
        return switch (this) {
            case FP32 -> "F32";
            case BF16 -> "BF16";
            case FP16 -> "F16";
        };
    }

    public DataType dataType() {
        return dataType;
    }

    public static Precision parse(String field, String value) {
        for (Precision p : values()) {
            if (p.key().equals(value)) {
                return p;
            }
        }
        throw BadInputException.field(field, "must be fp32, bf16 or fp16, got \"" + value + "\"");
    }

    /** Refuses, naming the field, a compute precision this engine cannot run (see the class comment). */
    public Precision requireRunnable(String field) {
        if (this == BF16 && !TorchOps.available()) {
            throw BadInputException.field(field, "bf16 needs the TorchScript kernels, and "
                    + TorchOps.unavailableReason() + " (DJL 0.36 has no bfloat16 tensor of its own). Use fp16 (mixed "
                    + "precision with dynamic loss scaling) or fp32; export_dtype: bf16 still writes bfloat16 weights");
        }
        return this;
    }

    /** x in this precision's compute dtype (x itself when it already is): a matmul input under autocast. */
    NDArray compute(NDArray x) {
        return cast(x, dataType);
    }

    /** x in float32 (x itself when it already is): what autocast runs softmax, norms and the loss in. */
    static NDArray full(NDArray x) {
        return cast(x, DataType.FLOAT32);
    }

    /**
     * A cast that autograd sees, as torch's .to(): its backward casts the gradient back to the source dtype. DJL's
     * toType runs under a NoGradGuard (its backward would never reach the fp32 master), so without the TorchScript
     * kernels the values are copied into a new array of the target dtype, which index_put records.
     */
    private static NDArray cast(NDArray x, DataType to) {
        if (x.getDataType() == to) {
            return x;
        }
        if (TorchOps.available()) {
            return switch (to) {
                case FLOAT32 -> TorchOps.toFloat32(x);
                case FLOAT16 -> TorchOps.toFloat16(x);
                case BFLOAT16 -> TorchOps.toBfloat16(x);
                default -> throw new IllegalArgumentException("no autocast to " + to);
            };
        }
        if (!JniUtils.isGradMode()) {
            return x.toType(to, false);                      // inference: nothing to differentiate
        }
        NDArray out = x.getManager().zeros(x.getShape(), to);
        out.set(new NDIndex(":"), x);
        return out;
    }
}
