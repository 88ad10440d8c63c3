package forge.train;

import ai.djl.Device;
import ai.djl.util.cuda.CudaUtils;

import java.io.IOException;
import java.lang.management.MemoryUsage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

/**
 * How much memory a stage starting now can still have: on the host the smaller of /proc/meminfo's MemAvailable and
 * what the cgroup limit leaves (v2 memory.max − (memory.current − inactive_file), or v1's limit_in_bytes and
 * usage_in_bytes likewise; a container's limit is what kills it, whatever the machine has free); on CUDA the device's free memory (cudaMemGetInfo through
 * DJL). The system property {@code forge.availableMemoryBytes} overrides both (tests, and an operator who knows
 * better).
 */
public interface AvailableMemory {
    String OVERRIDE = "forge.availableMemoryBytes";

    /** Free bytes on device ("cpu" or "cuda:N"), or empty where it cannot be read (the check is then skipped). */
    OptionalLong free(String device);

    /** This machine's figures, or the override. */
    static AvailableMemory system() {
        return device -> {
            String forced = System.getProperty(OVERRIDE);
            if (forced != null && !forced.isBlank()) {
                return OptionalLong.of(Long.parseLong(forced.trim()));
            }
            if (device.startsWith("cuda")) {
                int id = device.indexOf(':') < 0 ? 0 : Integer.parseInt(device.substring(device.indexOf(':') + 1));
                MemoryUsage u = CudaUtils.getGpuMemory(Device.gpu(id));
                return OptionalLong.of(u.getMax() - u.getCommitted());
            }
            return host(Path.of("/"));
        };
    }

    /** Host memory under root (a test passes a fake /proc and /sys tree). */
    static OptionalLong host(Path root) {
        OptionalLong available = memAvailable(root.resolve("proc/meminfo"));
        OptionalLong cgroup = cgroupLeft(root.resolve("sys/fs/cgroup"));
        if (available.isEmpty()) {
            return cgroup;
        }
        return cgroup.isEmpty() ? available : OptionalLong.of(Math.min(available.getAsLong(), cgroup.getAsLong()));
    }

    private static OptionalLong memAvailable(Path meminfo) {
        try {
            for (String line : Files.readAllLines(meminfo)) {
                if (line.startsWith("MemAvailable:")) {
                    String[] f = line.substring("MemAvailable:".length()).trim().split("\\s+");
                    return OptionalLong.of(Long.parseLong(f[0]) * 1024);         // kB
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or an unusual /proc: no figure
        }
        return OptionalLong.empty();
    }

    /**
     * The limit minus the working set, as the kubelet counts it: usage includes the page cache, of which the inactive
     * files are reclaimed before the OOM killer runs, so a worker that has read a big dataset is not refused for it.
     */
    /** A counter of a cgroup memory.stat file, 0 where the file or the line is missing. */
    private static long stat(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(key + " ")) {
                    return Long.parseLong(line.substring(key.length() + 1).trim());
                }
            }
        } catch (IOException | RuntimeException e) {
            // no stat: count all usage as used
        }
        return 0;
    }

    private static OptionalLong cgroupLeft(Path fs) {
        for (List<String> pair : List.of(List.of("memory.max", "memory.current", "memory.stat", "inactive_file"),
                List.of("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes", "memory/memory.stat",
                        "total_inactive_file"))) {
            try {
                String limit = Files.readString(fs.resolve(pair.get(0))).trim();
                if (limit.equals("max")) {
                    return OptionalLong.empty();
                }
                long max = Long.parseLong(limit);
                if (max >= Long.MAX_VALUE / 2) {                               // v1's "no limit"
                    return OptionalLong.empty();
                }
                long used = Long.parseLong(Files.readString(fs.resolve(pair.get(1))).trim());
                return OptionalLong.of(Math.max(0, max - Math.max(0, used - stat(fs.resolve(pair.get(2)),
                        pair.get(3)))));
            } catch (IOException | RuntimeException e) {
                // try the other layout
            }
        }
        return OptionalLong.empty();
    }
}
