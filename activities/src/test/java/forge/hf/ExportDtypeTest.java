package forge.hf;

import forge.model.Precision;
import forge.tensor.HostTensor;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

/** Host-side narrowing of final/'s weights: round to nearest even, as torch's casts. */
class ExportDtypeTest {
    private static float roundTrip(float f, Precision p) {
        HostTensor t = ExportDtype.narrow(HostTensor.f32(new long[] {1}, new float[] {f}), p);
        assertEquals(p.safetensorsDtype(), t.dtype());
        return t.asF32().toFloatArray()[0];
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(1.0f, roundTrip(1.0f, Precision.BF16));
        assertEquals(1.0078125f, roundTrip(1.0078125f, Precision.BF16));        // exactly representable
        assertEquals(1.0f, roundTrip(1.00390625f, Precision.BF16));             // a tie goes to the even 1.0
        assertEquals(1.015625f, roundTrip(1.01171875f, Precision.BF16));        // a tie goes to the even 1.015625
        assertEquals(1.0078125f, roundTrip(1.0058594f, Precision.BF16));        // above the tie rounds up
        assertEquals(-3.140625f, roundTrip(-3.14159f, Precision.BF16));
        assertEquals(Float.POSITIVE_INFINITY, roundTrip(Float.POSITIVE_INFINITY, Precision.BF16));
        assertEquals(Float.NaN, roundTrip(Float.NaN, Precision.BF16));
    }

    @Test
    void fp16RoundsSubnormalsAndOverflows() {
        assertEquals(1.0f, roundTrip(1.0f, Precision.FP16));
        assertEquals(1.0f, roundTrip(1.00048828125f, Precision.FP16));          // tie (half an ulp of 2^-10) to even
        assertEquals(1.001953125f, roundTrip(1.00146484375f, Precision.FP16));  // tie to even, upwards
        assertEquals(65504f, roundTrip(65504f, Precision.FP16));
        assertEquals(Float.POSITIVE_INFINITY, roundTrip(65520f, Precision.FP16)); // rounds past the largest half
        assertEquals(0x1p-24f, roundTrip(0x1p-24f, Precision.FP16));            // smallest subnormal
        assertEquals(0f, roundTrip(0x1p-25f, Precision.FP16));                  // tie between 0 and 2^-24: even 0
        assertEquals(0x1p-24f, roundTrip(0x1.8p-25f, Precision.FP16));
        assertEquals(2 * 0x1p-24f, roundTrip(2.5f * 0x1p-24f, Precision.FP16)); // subnormal tie to even
    }

    @Test
    void fp32PassesThroughUntouched() {
        Map<String, HostTensor> w = Map.of("a", HostTensor.f32(new long[] {2}, new float[] {1.1f, 2.2f}));
        assertSame(w, ExportDtype.weights(w, Precision.FP32));
    }
}
