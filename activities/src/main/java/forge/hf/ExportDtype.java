package forge.hf;

import forge.model.Precision;
import forge.tensor.HostTensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * final/'s weights in the dtype train.export_dtype asks for, narrowed on the host from the fp32 masters with
 * round-to-nearest-even (what torch's .to(torch.bfloat16) / .half() do), so the engine never holds a bf16 tensor.
 * Only float32 tensors are narrowed; anything else passes through.
 */
public final class ExportDtype {
    private ExportDtype() {
    }

    public static Map<String, HostTensor> weights(Map<String, HostTensor> weights, Precision dtype) {
        if (dtype == Precision.FP32) {
            return weights;
        }
        Map<String, HostTensor> out = new LinkedHashMap<>();
        weights.forEach((name, t) -> out.put(name, t.dtype().equals("F32") ? narrow(t, dtype) : t));
        return out;
    }

    static HostTensor narrow(HostTensor t, Precision dtype) {
        ByteBuffer in = ByteBuffer.wrap(t.data()).order(ByteOrder.LITTLE_ENDIAN);
        int n = t.data().length / 4;
        ByteBuffer out = ByteBuffer.allocate(n * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            float f = in.getFloat();
            out.putShort(dtype == Precision.BF16 ? toBf16(f) : toHalf(f));
        }
        return new HostTensor(dtype.safetensorsDtype(), t.shape(), out.array());
    }

    /** float32 → bfloat16, round to nearest even; NaN stays a (quiet) NaN. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x0040);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** float32 → IEEE binary16, round to nearest even: subnormals, overflow to infinity, NaN kept. */
    static short toHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int exp = (bits >>> 23) & 0xFF;
        int mant = bits & 0x7FFFFF;
        if (exp == 0xFF) {
            return (short) (sign | 0x7C00 | (mant != 0 ? 0x200 : 0));
        }
        int e = exp - 112;                                  // rebias 127 → 15
        if (e >= 0x1F) {
            return (short) (sign | 0x7C00);
        }
        if (e <= 0) {                                       // a half subnormal (or zero): m·2^-24
            if (e < -10) {
                return (short) sign;
            }
            int m = mant | 0x800000;
            int shift = 14 - e;
            return (short) (sign | roundShift(m, shift));
        }
        return (short) (sign | roundShift((e << 23) | mant, 13)); // a carry rolls into the exponent, up to inf
    }

    private static int roundShift(int v, int shift) {
        int q = v >>> shift;
        int rem = v & ((1 << shift) - 1);
        int mid = 1 << (shift - 1);
        if (rem > mid || (rem == mid && (q & 1) == 1)) {
            q++;
        }
        return q;
    }
}
