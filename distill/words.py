"""Words for the letter-counting task that only the training data uses.

The held-out count problems are (word, letter) pairs of the 42 words in
`distill.tasks.WORDS` that training never sees. Trained on those 42 words alone,
the model learnt each word's usual letters rather than the comparison: asked for
the f's in "coffee" it answered "1. c vs f: yes" and went on counting c's. These
words give the walk far more letter sequences to generalise from; they are
common English words, many with doubled letters, 3 to 13 letters long (the test
words: 5 to 13). Real words still let a model learn a word's letters by heart: the
demo model of 2 Dec answered "9. l vs l: no" in volleyball. Made-up strings over a few
letters (`random_word`) have no spelling to remember, so only the comparison pays.

`own_words` gives the words the training traces write themselves, the ones a
`--spell-words` tokenizer keeps whole.
"""

import random
import re
import string
from collections.abc import Iterable

from distill.problem import plain
from distill.tasks import WORDS

TRAIN_ONLY_WORDS = tuple("""
about above across action actor afternoon again agree airport alarm allow almost
alphabet always animal answer apartment appear arrow arrive attack attention autumn
baby backpack bakery basket battle beauty bedroom beetle begin believe bell better
between bicycle billion bitter blanket blossom bottle bottom brass breakfast bridge
brilliant brother bubble bucket buffalo butter button cabbage camera candle carrot
castle cattle ceiling cellar channel chatter cheese chicken chocolate circle classroom
cliff coconut collect college comma common connect cookie copper correct cotton
cottage country cousin crossing dance daughter deer dessert different dinner doctor
dollar donkey door dragon dress effort eggplant elephant engineer error evening
excellent exercise eyebrow fall family feather fellow ferry fiddle field finger follow
football forest freedom funny garden giggle glass goddess goose gossip grammar
grass green guess guitar hammer happen happy harbor hello hidden hill hobby hollow
honey horrible hurry illness immediate innocent island jelly jogger kettle kitten
ladder lemon lesson little lobby loop marry meadow message middle mirror mission
monkey moon mountain muffin narrow needle noodle nothing office orange paddle
pattern pebble pencil penny planet pillow pizza pocket pool possible pretty puppy
puzzle quarrel quiet rabbit raccoon rattle river rubber saddle scissors seed shallow
sheep shell shoulder silly sister skill sleeve slipper small soccer spaghetti spoon
squirrel street summer supper swallow sweet syllable teeth terrible thrill tissue
toffee tomorrow tool traffic travel tree tunnel twelve umbrella valley village wagon
wall waterfall window winner winter wizard wood yellow yesterday zebra zipper zoo
understanding temperature dictionary grandmother helicopter independent kindergarten
lighthouse marshmallow mathematics neighborhood opportunity photograph playground
restaurant skyscraper submarine tablespoon thunderstorm toothbrush typewriter vegetable
wheelbarrow woodpecker carpenter chimpanzee crocodile dinosaur everything fingernail
goalkeeper hummingbird butterscotch cappuccino caterpillar
""".split())


def random_word(rng: random.Random) -> str:
    """A made-up string of 3 to 13 letters over 3 to 8 distinct letters, so that
    doubled and repeated letters, the count task's hard cases, come often."""
    pool = rng.sample(string.ascii_lowercase, rng.randint(3, 8))
    return "".join(rng.choice(pool) for _ in range(rng.randint(3, 13)))


# The word a count question asks about, in every phrasing of distill.tasks.count.
_COUNTED = re.compile(r"\bin (?:the word )?\"?([^\W\d_]+)\"?[?.]?\s*$")
_WORD = re.compile(r"[^\W\d_]+")


def own_words(chats: Iterable[list[dict[str, str]]]) -> set[str]:
    """The words the training chats write, leaving out each count chat's counted word
    (in that chat only: "again" is counted in some chats and a trace word in all) and
    the held-out count words."""
    words: set[str] = set()
    for chat in chats:
        asked = (_COUNTED.search(m["content"]) for m in chat if m["role"] == "user")
        counted = {match.group(1) for match in asked if match}
        for m in chat:
            words.update(w for w in _WORD.findall(plain(m["content"])) if w not in counted)
    return words - set(WORDS)
