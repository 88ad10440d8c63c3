package forge.bench;

import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * Runs a measurement on a thread of its own that ends with it. libtorch's OpenMP keeps a pool of workers for every
 * thread that has run a parallel op, for as long as that thread lives; once a process has more of those than cores,
 * libgomp spins only briefly before sleeping, and every op of whichever thread trains pays for waking its workers
 * (a step took 1.5× as long, BENCHMARKS.md). A worker runs one stage on one thread at a time, so a benchmark that
 * left the main thread's pool behind would charge that to whatever it measured next.
 */
public final class FreshThread {
    private FreshThread() {}

    public static <T> T call(String name, Supplier<T> work) {
        AtomicReference<T> result = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                result.set(work.get());
            } catch (Throwable e) {
                failure.set(e);
            }
        }, name);
        t.start();
        try {
            t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while " + name + " ran", e);
        }
        Throwable e = failure.get();
        if (e instanceof RuntimeException r) {
            throw r;
        }
        if (e instanceof Error err) {
            throw err;
        }
        if (e != null) {
            throw new IllegalStateException(e);
        }
        return result.get();
    }
}
