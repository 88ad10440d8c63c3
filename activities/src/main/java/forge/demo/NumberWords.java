package forge.demo;

import java.util.HashMap;
import java.util.Map;

/** English number words for 0..100 ("seven", "twenty-one", "one hundred"), both ways. */
public final class NumberWords {
    static final int MAX = 100;
    private static final String[] UNITS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
        "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen"};
    private static final String[] TENS = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty",
        "ninety"};
    private static final Map<String, Integer> VALUES = new HashMap<>();

    static {
        for (int n = 0; n <= MAX; n++) {
            VALUES.put(words(n), n);
        }
    }

    private NumberWords() {
    }

    static String words(int n) {
        if (n < 0 || n > MAX) {
            throw new IllegalArgumentException("no words for " + n);
        }
        if (n < 20) {
            return UNITS[n];
        }
        if (n == 100) {
            return "one hundred";
        }
        return n % 10 == 0 ? TENS[n / 10] : TENS[n / 10] + "-" + UNITS[n % 10];
    }

    /** The value of a number word ("seven", "twenty-one", "Twelve"), or -1. */
    public static int value(String word) {
        Integer v = VALUES.get(word.toLowerCase(java.util.Locale.ROOT));
        return v == null ? -1 : v;
    }

    /** "twenty", "thirty", ... "ninety": a word that "one" .. "nine" may follow ("twenty one"). */
    public static boolean isTens(String word) {
        int v = value(word);
        return v >= 20 && v < 100 && v % 10 == 0;
    }
}
