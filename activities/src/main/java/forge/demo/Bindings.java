package forge.demo;

import forge.demo.Cast.Person;
import forge.demo.Cast.Thing;

import java.util.SplittableRandom;

/** What a template's placeholders stand for in one sentence: the numbers and who, what and where. */
record Bindings(int a, int b, int c, boolean words, Person name, Person other, Thing thing, String place,
                String weather) {

    static Bindings random(SplittableRandom r, int a, int b, int c, boolean words) {
        Person name = Rng.pick(r, Cast.PEOPLE);
        Person other;
        do {
            other = Rng.pick(r, Cast.PEOPLE);
        } while (other.equals(name));
        return new Bindings(a, b, c, words, name, other, Rng.pick(r, Cast.THINGS), Rng.pick(r, Cast.PLACES),
                Rng.pick(r, Cast.WEATHER));
    }

    static Bindings random(SplittableRandom r, Problem p, boolean words) {
        return random(r, p.a(), p.b(), p.answer(), words);
    }

    String number(int n) {
        return words ? NumberWords.words(n) : Integer.toString(n);
    }
}
