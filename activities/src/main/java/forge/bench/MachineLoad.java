package forge.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * How much CPU other processes took while a benchmark ran, from /proc: on a shared machine a figure means little
 * without it. Samples every {@code periodMillis}; reports the mean and the worst window, in cores.
 */
public final class MachineLoad implements AutoCloseable {
    private static final Path STAT = Path.of("/proc/stat");
    private static final Path SELF = Path.of("/proc/self/stat");
    private static final long TICKS_PER_SECOND = 100; // USER_HZ on every Linux we run on

    private final Thread thread;
    private final List<Double> others = new ArrayList<>();
    private volatile boolean stop;

    private MachineLoad(long periodMillis) {
        thread = new Thread(() -> sample(periodMillis), "machine-load");
        thread.setDaemon(true);
    }

    /** @return a running sampler, or null where /proc is not there to read */
    public static MachineLoad start(long periodMillis) {
        if (!Files.isReadable(STAT) || !Files.isReadable(SELF)) {
            return null;
        }
        MachineLoad load = new MachineLoad(periodMillis);
        load.thread.start();
        return load;
    }

    private void sample(long periodMillis) {
        long[] before = read();
        long t0 = System.nanoTime();
        while (!stop) {
            try {
                Thread.sleep(periodMillis);
            } catch (InterruptedException e) {
                return;
            }
            long[] now = read();
            long t1 = System.nanoTime();
            double seconds = (t1 - t0) / 1e9;
            double busyOthers = ((now[0] - before[0]) - (now[1] - before[1])) / (double) TICKS_PER_SECOND;
            synchronized (others) {
                others.add(Math.max(0, busyOthers / seconds));
            }
            before = now;
            t0 = t1;
        }
    }

    /** {busy ticks of the whole machine, ticks of this process}. */
    private static long[] read() {
        try {
            String[] cpu = Files.readAllLines(STAT).get(0).trim().split("\\s+");
            // user nice system idle iowait irq softirq steal: busy is all but idle and iowait
            long busy = 0;
            for (int i = 1; i <= 8 && i < cpu.length; i++) {
                if (i != 4 && i != 5) {
                    busy += Long.parseLong(cpu[i]);
                }
            }
            String self = Files.readString(SELF);
            String[] f = self.substring(self.lastIndexOf(')') + 2).split("\\s+");
            long own = Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime (fields 14, 15)
            return new long[] {busy, own};
        } catch (IOException | RuntimeException e) {
            return new long[] {0, 0};
        }
    }

    public double meanOtherCores() {
        synchronized (others) {
            return others.stream().mapToDouble(Double::doubleValue).average().orElse(0);
        }
    }

    public double worstOtherCores() {
        synchronized (others) {
            return others.stream().mapToDouble(Double::doubleValue).max().orElse(0);
        }
    }

    @Override
    public void close() {
        stop = true;
        thread.interrupt();
    }
}
