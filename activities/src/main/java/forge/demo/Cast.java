package forge.demo;

import java.util.List;

/** The people, things and places the demo world's stories are about. */
final class Cast {
    record Person(String name, boolean female) {
        String subject() {
            return female ? "she" : "he";
        }

        String possessive() {
            return female ? "her" : "his";
        }
    }

    record Thing(String one, String many) {
        String forCount(int n) {
            return n == 1 ? one : many;
        }
    }

    static final List<Person> PEOPLE = List.of(
            new Person("Mia", true), new Person("Tom", false), new Person("Ava", true), new Person("Leo", false),
            new Person("Zoe", true), new Person("Sam", false), new Person("Lily", true), new Person("Max", false),
            new Person("Emma", true), new Person("Noah", false), new Person("Ella", true), new Person("Ben", false),
            new Person("Nora", true), new Person("Omar", false), new Person("Ruby", true), new Person("Finn", false));

    static final List<Thing> THINGS = List.of(
            new Thing("apple", "apples"), new Thing("pear", "pears"), new Thing("book", "books"),
            new Thing("coin", "coins"), new Thing("marble", "marbles"), new Thing("card", "cards"),
            new Thing("pencil", "pencils"), new Thing("cookie", "cookies"), new Thing("sticker", "stickers"),
            new Thing("shell", "shells"), new Thing("flower", "flowers"), new Thing("stone", "stones"));

    static final List<String> PLACES = List.of(
            "garden", "kitchen", "park", "library", "classroom", "market", "shop", "forest");

    static final List<String> WEATHER = List.of("sunny", "rainy", "windy", "cold", "warm", "cloudy");

    private Cast() {
    }
}
