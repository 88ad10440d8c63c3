package forge.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Training on the default 2M-character sample and encoding a few MB must take seconds: both run inside pipeline
 * activities before any model step. Limits are generous because the test machine is small and shared.
 */
class BpePerformanceTest {

    /** Zipf-distributed words over a large random vocabulary: the distinct-word count of real prose. */
    private static List<String> prose(long chars, long seed) {
        Random r = new Random(seed);
        String[] vocab = new String[40_000];
        for (int i = 0; i < vocab.length; i++) {
            StringBuilder w = new StringBuilder();
            int len = 2 + r.nextInt(9);
            for (int j = 0; j < len; j++) {
                w.append("etaoinshrdlucmfwypvbgkjqxz".charAt((int) Math.min(25, Math.abs(r.nextGaussian()) * 7)));
            }
            vocab[i] = w.toString();
        }
        List<String> docs = new ArrayList<>();
        long total = 0;
        while (total < chars) {
            StringBuilder doc = new StringBuilder();
            for (int i = 0; i < 300; i++) {
                int rank = (int) Math.min(vocab.length - 1, Math.exp(r.nextDouble() * Math.log(vocab.length)) - 1);
                doc.append(vocab[rank]).append(r.nextInt(12) == 0 ? ". " : " ");
            }
            docs.add(doc.toString());
            total += doc.length();
        }
        return docs;
    }

    @Test
    void trainsOnTwoMillionCharactersAndEncodesFiveMegabytesInSeconds() {
        List<String> docs = prose(TokenizerConfig.DEFAULT_TRAIN_CHARS, 1);
        long t0 = System.nanoTime();
        Tokenizer t = Tokenizer.train(TokenizerConfig.bpe(8192), docs);
        double trainSeconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(8192, t.vocabSize());

        List<String> text = prose(5_000_000, 2);
        long chars = text.stream().mapToLong(String::length).sum();
        long t1 = System.nanoTime();
        long tokens = 0;
        for (String doc : text) {
            tokens += t.encode(doc).length;
        }
        double encodeSeconds = (System.nanoTime() - t1) / 1e9;
        System.out.printf("bpe: trained 8192 on 2M chars in %.2f s; encoded %.1f MB (%d tokens) in %.2f s = %.1f MB/s%n",
                trainSeconds, chars / 1e6, tokens, encodeSeconds, chars / 1e6 / encodeSeconds);
        assertTrue(trainSeconds < 20, "training took " + trainSeconds + " s");
        assertTrue(encodeSeconds < 20, "encoding took " + encodeSeconds + " s");
    }
}
