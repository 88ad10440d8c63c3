package forge.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;

/**
 * Keys and values of every attention layer for the positions seen so far, so that generation feeds only the new
 * token. Its arrays live in its own manager, outside any NDScope the caller has open. Not usable after a forward
 * that threw: {@link #clear()} it or make a new one.
 */
public final class KvCache implements AutoCloseable {
    private final NDManager manager;
    private final int batch;
    private final NDArray[] keys;
    private final NDArray[] values;
    private int length;

    KvCache(NDManager parent, int nLayer, int batch) {
        if (batch <= 0) {
            throw new IllegalArgumentException("batch must be > 0, got " + batch);
        }
        this.manager = parent.newSubManager();
        this.batch = batch;
        this.keys = new NDArray[nLayer];
        this.values = new NDArray[nLayer];
    }

    /** Positions cached so far; the next forward starts at this position. */
    public int length() {
        return length;
    }

    public int batch() {
        return batch;
    }

    public void clear() {
        for (int i = 0; i < keys.length; i++) {
            closeQuietly(keys[i]);
            closeQuietly(values[i]);
            keys[i] = null;
            values[i] = null;
        }
        length = 0;
    }

    /** Appends this call's k and v (B, nh, T, hs) of one layer; returns all keys and values (B, nh, length+T, hs). */
    NDArray[] append(int layer, NDArray k, NDArray v) {
        keys[layer] = grow(keys[layer], k);
        values[layer] = grow(values[layer], v);
        return new NDArray[] {keys[layer], values[layer]};
    }

    /** Called once every layer has appended, so a forward counts once. */
    void advance(long t) {
        length += (int) t;
    }

    private NDArray grow(NDArray old, NDArray fresh) {
        // A copy even the first time: fresh is a view into the whole qkv projection, which must not stay alive.
        NDArray all = old == null ? fresh.duplicate() : NDArrays.concat(new NDList(old, fresh), 2);
        NDScope.unregister(all);
        all.attach(manager);
        closeQuietly(old);
        return all;
    }

    private static void closeQuietly(NDArray a) {
        if (a != null) {
            a.close();
        }
    }

    @Override
    public void close() {
        manager.close();
    }
}
