package forge.train;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.util.cuda.CudaUtils;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * What produces a checkpoint, recorded in its manifest: bit-exact resume holds only when the hardware, the engine,
 * the dtype and the intra-op thread count are the same (float reductions are summed in an order that depends on all
 * of them). Resuming elsewhere works; it just continues a slightly different trajectory, and says so.
 */
public final class Provenance {
    /** The entries that decide bit-exactness; the others ({@code os}, {@code java}) are for humans. */
    static final List<String> EXACTNESS_KEYS = List.of("hardware", "device", "engine", "dtype", "threads");

    private Provenance() {
    }

    public static Map<String, String> of(Map<String, NDArray> parameters) {
        Engine engine = Engine.getInstance();
        Device device = engine.defaultDevice();
        Map<String, String> m = new LinkedHashMap<>();
        m.put("hardware", device.isGpu() ? gpu(device) : cpuModel() + ", " + Runtime.getRuntime().availableProcessors()
                + " logical cpus");
        m.put("device", device.toString());
        m.put("engine", engine.getEngineName() + " " + engine.getVersion() + " (DJL " + Engine.getDjlVersion() + ")");
        m.put("dtype", parameters.isEmpty() ? "unknown"
                : parameters.values().iterator().next().getDataType().toString().toLowerCase(java.util.Locale.ROOT));
        m.put("threads", System.getProperty("ai.djl.pytorch.num_threads", "engine default") + " intra-op, "
                + System.getProperty("ai.djl.pytorch.num_interop_threads", "engine default") + " inter-op");
        m.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        m.put("java", System.getProperty("java.version"));
        return m;
    }

    /** The exactness entries that differ between a checkpoint's producer and this process, "key: was → now" each. */
    static List<String> differences(Map<String, String> recorded, Map<String, String> current) {
        if (recorded == null || recorded.isEmpty()) {
            return List.of(); // written before provenance was recorded: nothing to compare
        }
        return EXACTNESS_KEYS.stream()
                .filter(k -> !Objects.equals(recorded.get(k), current.get(k)))
                .map(k -> k + ": " + recorded.getOrDefault(k, "unknown") + " -> " + current.getOrDefault(k, "unknown"))
                .toList();
    }

    private static String gpu(Device device) {
        String cc;
        try {
            cc = CudaUtils.getComputeCapability(device.getDeviceId());
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            cc = "unknown";
        }
        return "CUDA " + CudaUtils.getCudaVersionString() + " device " + device.getDeviceId() + " (compute capability "
                + cc + ", " + CudaUtils.getGpuCount() + " visible)";
    }

    private static String cpuModel() {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        if (Files.isReadable(cpuinfo)) {
            try (Stream<String> lines = Files.lines(cpuinfo)) {
                return lines.filter(l -> l.startsWith("model name")).findFirst()
                        .map(l -> l.substring(l.indexOf(':') + 1).trim())
                        .orElse(System.getProperty("os.arch"));
            } catch (IOException | java.io.UncheckedIOException e) {
                // fall through to the architecture alone
            }
        }
        return System.getProperty("os.arch");
    }
}
