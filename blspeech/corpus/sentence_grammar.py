"""The small grammar that wrote ``blspeech/resources/swbd_sentences.txt``, the default sentence bank.

Switchboard is two strangers chatting about an assigned topic (weather, pets, taxes, ...), so
the grammar has a handful of topics, each with its own nouns, activities, places and ready-made
statements, a few dozen sentence frames (opinions, stories, questions, reactions), and a
disfluency pass that adds what ms98 transcripts are full of, in their own markup: hesitations
(``uh``, ``um``), discourse fillers (``you know``, ``i mean``), repetitions, partial words
(``ab[out]- about``), ``[laughter]``, ``[noise]``, ``[vocalized-noise]``, laughing words
(``[laughter-yeah]``), mispronunciations (``[probly/probably]``) and coinages (``{yuppie}``).
Short backchannels (``uh-huh``, ``yeah``) are listed whole, as they dominate real conversations.

The bank is a shipped file rather than generated at run time so that users can read it, edit
it or replace it (``--text``), and so a grammar change never silently changes a corpus; run
``python -m blspeech.corpus.sentence_grammar`` to rewrite it (a test checks they agree).
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from pathlib import Path

from blspeech.fileio import write_text_atomic
from blspeech.resources import RESOURCES_DIR

BANK_PATH = RESOURCES_DIR / "swbd_sentences.txt"
BANK_SIZE = 6000
BANK_SEED = 2001


@dataclass(frozen=True)
class Topic:
    """Word lists of one conversation topic; ``things`` are noun phrases ("the weather", "the bills")."""

    things: tuple[str, ...]
    doing: tuple[str, ...]  # gerund phrases: "working in the yard"
    do: tuple[str, ...]  # base-form verb phrases: "work in the yard"
    places: tuple[str, ...]  # where-phrases: "out in the yard"
    adjectives: tuple[str, ...]
    statements: tuple[str, ...]


TOPICS: dict[str, Topic] = {
    "weather": Topic(
        things=("the weather", "the rain", "the humidity", "the heat", "the snow", "the wind", "the forecast", "the spring around here"),
        doing=("shoveling snow", "sitting out on the porch", "watching the storms come in", "walking in the rain"),
        do=("shovel the driveway", "sit out on the porch", "check the forecast", "move somewhere warmer"),
        places=("down in texas", "up north", "out in california", "here in dallas", "back east", "in the mountains"),
        adjectives=("hot", "humid", "cold", "miserable", "nice", "unpredictable", "beautiful", "dry"),
        statements=(
            "it's been raining all week",
            "we had a real bad ice storm last winter",
            "it gets up over a hundred degrees in the summer",
            "the weather changes from one day to the next",
            "we never really get a spring here",
            "the tornado sirens went off twice last month",
            "it was seventy degrees on christmas day",
            "the humidity is what gets to me",
            "we had about two feet of snow",
            "it's supposed to clear up by the weekend",
            "the ground is just too dry for anything to grow",
            "i grew up where it snowed every winter",
        ),
    ),
    "pets": Topic(
        things=("our dog", "the cat", "my old cat", "the puppy", "a big dog", "the vet bill", "the fish tank", "the back yard"),
        doing=("walking the dog", "taking care of a puppy", "training a dog", "cleaning the fish tank", "feeding the cats"),
        do=("walk the dog", "train a puppy", "take him to the vet", "keep a cat indoors", "get another dog"),
        places=("at the pound", "in the back yard", "at the vet", "at the pet store", "out in the country"),
        adjectives=("friendly", "lazy", "smart", "expensive", "spoiled", "old", "sweet", "stubborn"),
        statements=(
            "we have a little poodle named max",
            "the cat sleeps on the bed all day",
            "our dog is about twelve years old now",
            "my kids wanted a puppy for christmas",
            "the vet bills really add up",
            "we got her from the animal shelter",
            "he barks at everybody who walks by",
            "cats are a lot less work than dogs",
            "we had to put our old dog to sleep last year",
            "she digs under the fence every chance she gets",
            "i grew up with dogs all my life",
            "the fish just keep dying on us",
        ),
    ),
    "music": Topic(
        things=("country music", "the radio", "that song", "classical music", "the concert", "rock and roll", "the church choir", "jazz"),
        doing=("listening to the radio", "playing the piano", "going to concerts", "singing in the choir", "playing the guitar"),
        do=("play the piano", "listen to country music", "go to a concert", "learn the guitar", "sing in the choir"),
        places=("at the symphony", "in the car", "at church", "at the concert hall", "on the radio"),
        adjectives=("loud", "relaxing", "beautiful", "boring", "old fashioned", "catchy", "great", "different"),
        statements=(
            "i mostly listen to the radio in the car",
            "my daughter takes piano lessons",
            "we went to see willie nelson last summer",
            "i can't stand most of the new stuff",
            "i played the trumpet in high school",
            "the oldies station is about all i listen to",
            "my husband likes classical but i like country",
            "they play the same ten songs over and over",
            "i used to sing in the church choir",
            "the tickets were way too expensive",
            "my son plays drums in a band",
            "i like a little bit of everything",
        ),
    ),
    "movies": Topic(
        things=("that movie", "the theater", "the video store", "the ending", "the new one", "the popcorn", "that actor", "the rating system"),
        doing=("going to the movies", "renting videos", "watching old movies", "waiting for it to come out on video"),
        do=("go to the movies", "rent a video", "see that one", "watch it at home", "take the kids to a movie"),
        places=("at the theater", "at the video store", "at the drive in", "at home", "on cable"),
        adjectives=("funny", "violent", "sad", "good", "long", "scary", "boring", "expensive"),
        statements=(
            "we hardly ever go to the movies anymore",
            "it costs about twenty dollars to take the family",
            "i'd rather wait and rent it",
            "we saw dances with wolves last week",
            "i thought the book was better than the movie",
            "there's too much violence in the movies these days",
            "my wife loves the old black and white movies",
            "the kids want to see every cartoon that comes out",
            "i fell asleep halfway through it",
            "the ending was kind of a letdown",
            "we usually go to the matinee because it's cheaper",
            "i haven't seen a good movie in a long time",
        ),
    ),
    "sports": Topic(
        things=("the game", "football", "baseball", "the team", "the season", "the playoffs", "basketball", "the coach"),
        doing=("watching football", "playing softball", "going to the games", "coaching little league", "playing golf"),
        do=("play golf", "watch the game", "go to a game", "coach little league", "play softball"),
        places=("at the stadium", "on tv", "at the ballpark", "out on the golf course", "at the high school"),
        adjectives=("exciting", "boring", "good", "terrible", "competitive", "fun", "rough", "close"),
        statements=(
            "the cowboys had a terrible season",
            "i used to play baseball in high school",
            "we watch the game every sunday afternoon",
            "my son plays little league",
            "the rangers never seem to win when it counts",
            "i play golf about once a week",
            "the players make way too much money",
            "we had season tickets for a couple of years",
            "college football is a lot more fun to watch",
            "i coached my daughter's soccer team",
            "the playoffs start next week",
            "i don't really follow basketball",
        ),
    ),
    "cars": Topic(
        things=("my car", "the truck", "the transmission", "gas mileage", "the new models", "the dealer", "the insurance", "a used car"),
        doing=("working on cars", "changing the oil", "shopping for a car", "driving to work", "fixing the brakes"),
        do=("buy a new car", "change the oil", "fix it myself", "trade it in", "drive a truck"),
        places=("at the dealer", "at the shop", "on the highway", "in the garage", "at the gas station"),
        adjectives=("reliable", "expensive", "comfortable", "small", "dependable", "old", "fast", "cheap"),
        statements=(
            "i drive an old ford pickup",
            "we've had nothing but trouble with that car",
            "it's got over a hundred thousand miles on it",
            "the transmission went out last month",
            "i do most of the work on it myself",
            "the japanese cars seem to hold up better",
            "we're thinking about getting a minivan",
            "the insurance costs more than the car payment",
            "i'd never buy a new car again",
            "it gets about thirty miles to the gallon",
            "the dealer tried to sell me all kinds of extras",
            "my husband wants one of those little sports cars",
        ),
    ),
    "family": Topic(
        things=("the family", "my oldest", "the baby", "day care", "the house", "the holidays", "the family reunion", "raising kids"),
        doing=("raising kids", "visiting my parents", "getting the kids to school", "spending time with the family", "taking care of my mother"),
        do=("spend more time at home", "visit my folks", "take the kids somewhere", "find good day care", "get everybody together"),
        places=("at my mother's house", "at home", "at the reunion", "at grandma's", "back home in ohio"),
        adjectives=("busy", "hectic", "close", "big", "wonderful", "hard", "crazy", "important"),
        statements=(
            "we have three kids all under ten",
            "my parents live about two hours from here",
            "we all get together at thanksgiving",
            "my oldest just started college",
            "both of us work so it's hard",
            "my mother moved in with us last year",
            "the kids fight all the time",
            "i come from a family of eight",
            "my sister had a baby in june",
            "we try to eat dinner together every night",
            "my grandmother lived to be ninety five",
            "the house is never quiet",
        ),
    ),
    "work": Topic(
        things=("my job", "the company", "the commute", "my boss", "the benefits", "the office", "the dress code", "overtime"),
        doing=("working nights", "commuting downtown", "looking for a new job", "working from home", "dressing up for work"),
        do=("find another job", "work part time", "retire early", "get a raise", "dress up for work"),
        places=("at the plant", "at the office", "downtown", "at the hospital", "at the bank"),
        adjectives=("stressful", "boring", "interesting", "busy", "demanding", "casual", "great", "slow"),
        statements=(
            "i work for an engineering company",
            "we have to wear a suit and tie every day",
            "fridays are casual at our office",
            "the drive takes me about forty five minutes",
            "they laid off about a third of the people",
            "i've been there about eleven years now",
            "i'm a teacher so i have the summers off",
            "my boss lets us come in whenever we want",
            "we get two weeks of vacation a year",
            "the benefits are the only reason i stay",
            "i work nights at the hospital",
            "i'm thinking about going back to school",
        ),
    ),
    "environment": Topic(
        things=("recycling", "the landfill", "air pollution", "the newspapers", "aluminum cans", "the water", "plastic", "the ozone layer"),
        doing=("recycling cans", "separating the trash", "composting", "saving newspapers", "carpooling"),
        do=("recycle the cans", "separate the glass", "take the papers in", "cut back on plastic", "start a compost pile"),
        places=("at the recycling center", "at the grocery store", "in our neighborhood", "at the dump", "out by the lake"),
        adjectives=("important", "wasteful", "dirty", "easy", "inconvenient", "worse", "better", "expensive"),
        statements=(
            "our city started curbside recycling last year",
            "we take the cans to the recycling center",
            "the landfills are filling up",
            "people just don't want to be bothered",
            "they ought to make the companies use less packaging",
            "the air here is terrible in august",
            "we save all our newspapers for the boy scouts",
            "i don't think one person can make much difference",
            "the water tastes awful",
            "my kids learned about it at school",
            "we use cloth bags at the grocery store",
            "it costs more to recycle than to throw it away",
        ),
    ),
    "money": Topic(
        things=("the budget", "credit cards", "the interest rate", "the mortgage", "the bills", "savings", "the bank", "the house payment"),
        doing=("paying off the credit cards", "saving for college", "keeping a budget", "balancing the checkbook", "paying cash"),
        do=("pay it off every month", "save some money", "cut up the credit cards", "stick to a budget", "pay cash for everything"),
        places=("at the bank", "at the store", "at the credit union", "at the mall", "over the phone"),
        adjectives=("expensive", "tight", "high", "ridiculous", "easy", "hard", "convenient", "dangerous"),
        statements=(
            "we only have one credit card",
            "the interest rates are outrageous",
            "we pay it off every month",
            "we try to put a little away every paycheck",
            "it's way too easy to get into debt",
            "we're saving up for a house",
            "my husband does all the bills",
            "they keep sending me applications in the mail",
            "we made a budget but we never stick to it",
            "college is going to cost a fortune",
            "i got into trouble with credit cards in college",
            "we pay cash for just about everything",
        ),
    ),
    "crime": Topic(
        things=("crime", "the neighborhood", "the police", "the court system", "drugs", "the death penalty", "the prisons", "the jury"),
        doing=("locking the doors", "serving on a jury", "walking at night", "watching the neighborhood"),
        do=("lock the doors", "call the police", "serve on a jury", "move out of the city", "build more prisons"),
        places=("in our neighborhood", "downtown", "in the city", "at the courthouse", "in the parking lot"),
        adjectives=("scary", "dangerous", "safe", "unfair", "bad", "quiet", "violent", "slow"),
        statements=(
            "somebody broke into our car last month",
            "the neighborhood used to be real safe",
            "i served on a jury a couple of years ago",
            "they let them out way too early",
            "we started a neighborhood watch",
            "the drugs are behind most of it",
            "i don't walk alone at night anymore",
            "the prisons are too crowded",
            "the police can't be everywhere",
            "my neighbor had her purse stolen at the mall",
            "the trial took almost three weeks",
            "it's gotten a lot worse in the last ten years",
        ),
    ),
    "gardening": Topic(
        things=("the garden", "the yard", "the tomatoes", "the lawn", "the roses", "the soil", "the weeds", "the flower beds"),
        doing=("gardening", "mowing the lawn", "pulling weeds", "planting tomatoes", "working in the yard"),
        do=("plant a garden", "mow the lawn", "pull the weeds", "grow tomatoes", "put in some flowers"),
        places=("in the back yard", "out front", "at the nursery", "along the fence", "in the flower beds"),
        adjectives=("green", "dry", "beautiful", "overgrown", "hard", "relaxing", "rocky", "big"),
        statements=(
            "we put in a vegetable garden this year",
            "the tomatoes did real well",
            "the soil here is mostly clay",
            "i spend every saturday working in the yard",
            "the bugs ate everything",
            "my wife has roses all along the fence",
            "we had to water every day in july",
            "i just like to get out and dig in the dirt",
            "the grass won't grow under the trees",
            "my grandfather always had a huge garden",
            "we grew more zucchini than we could eat",
            "the deer keep eating the flowers",
        ),
    ),
    "food": Topic(
        things=("dinner", "mexican food", "the restaurant", "barbecue", "the recipe", "fast food", "the menu", "my cooking"),
        doing=("cooking", "eating out", "trying new recipes", "barbecuing", "baking bread"),
        do=("cook dinner", "eat out", "try a new restaurant", "make chili", "bake some bread"),
        places=("at a little mexican place", "at home", "at the cafeteria", "downtown", "at a steak house"),
        adjectives=("spicy", "good", "greasy", "healthy", "expensive", "fancy", "quick", "delicious"),
        statements=(
            "we eat out about twice a week",
            "my husband does most of the cooking",
            "i make a pretty good pot of chili",
            "there's a great barbecue place near us",
            "we're trying to eat less red meat",
            "the kids would eat pizza every night",
            "i never learned how to cook",
            "we like to try different kinds of food",
            "fast food is just so easy",
            "my mother makes the best apple pie",
            "we had a big cookout on the fourth",
            "i don't like anything too spicy",
        ),
    ),
    "travel": Topic(
        things=("the trip", "the vacation", "the drive", "the beach", "the flight", "the hotel", "the camping trip", "the mountains"),
        doing=("camping", "fishing", "traveling", "driving across the country", "going to the beach"),
        do=("go camping", "go fishing", "take a vacation", "drive up to colorado", "fly to europe"),
        places=("in colorado", "down at the coast", "at the lake", "in florida", "out west", "in the smokies"),
        adjectives=("relaxing", "long", "beautiful", "crowded", "expensive", "fun", "peaceful", "tiring"),
        statements=(
            "we go camping every summer",
            "we drove all the way to the grand canyon",
            "the kids got carsick the whole way",
            "i caught a five pound bass last spring",
            "we stayed in a little cabin by the lake",
            "i'd love to go to europe someday",
            "the beach was so crowded we couldn't move",
            "we usually just go visit family",
            "it rained the entire week we were there",
            "i like to get up before the sun and go fishing",
            "we flew to hawaii for our anniversary",
            "a tent is about all the roughing it i can take",
        ),
    ),
    "television": Topic(
        things=("the news", "television", "the commercials", "cable", "that show", "the talk shows", "the soap operas", "the news coverage"),
        doing=("watching the news", "watching tv", "taping shows", "flipping through channels"),
        do=("watch the news", "turn off the tv", "tape it", "get cable", "watch the evening news"),
        places=("on cable", "on the news", "on public television", "in the evening", "on the weekends"),
        adjectives=("biased", "stupid", "educational", "violent", "funny", "depressing", "good", "repetitive"),
        statements=(
            "we only watch the news at night",
            "the kids watch way too much tv",
            "there's nothing good on anymore",
            "i like to watch the public television shows",
            "the commercials are louder than the programs",
            "i tape my soap opera and watch it at night",
            "we got cable last year",
            "the news is so depressing",
            "i watch cnn in the morning",
            "my husband falls asleep in front of the tv",
            "we don't let the kids watch it on school nights",
            "i grew up watching the andy griffith show",
        ),
    ),
    "health": Topic(
        things=("exercise", "the gym", "my diet", "the doctor", "health insurance", "aerobics", "my back", "the hospital"),
        doing=("jogging", "walking", "swimming", "lifting weights", "riding a bike", "doing aerobics"),
        do=("exercise", "go to the gym", "walk every morning", "lose some weight", "quit smoking"),
        places=("at the gym", "at the y", "around the neighborhood", "at the pool", "at the mall"),
        adjectives=("healthy", "tired", "expensive", "hard", "good", "sore", "lazy", "important"),
        statements=(
            "i try to walk three miles every morning",
            "i joined a health club but i never go",
            "my doctor told me to lose twenty pounds",
            "i hurt my back last year",
            "the insurance won't cover it",
            "i quit smoking about five years ago",
            "we walk at the mall when it's too hot",
            "i used to run but my knees gave out",
            "my wife does aerobics three times a week",
            "it's hard to find the time",
            "i feel a lot better when i exercise",
            "the medical costs are out of control",
        ),
    ),
    "books": Topic(
        things=("that book", "the library", "the newspaper", "the paper", "the magazine", "mysteries", "the author", "the best seller"),
        doing=("reading", "reading mysteries", "reading to the kids", "reading the paper", "going to the library"),
        do=("read", "read the paper", "go to the library", "read before bed", "finish that book"),
        places=("at the library", "at the book store", "in bed", "on the bus", "on the weekends"),
        adjectives=("interesting", "long", "good", "slow", "exciting", "hard to follow", "funny", "sad"),
        statements=(
            "i read the paper every morning",
            "i love a good mystery",
            "i don't have much time to read anymore",
            "my son reads everything he can get his hands on",
            "we get books from the library",
            "i read about a book a week",
            "i couldn't put it down",
            "i like anything by stephen king",
            "i mostly read magazines",
            "i read to the kids every night",
            "i just finished a book about the civil war",
            "the paper here isn't very good",
        ),
    ),
    "schools": Topic(
        things=("the schools", "public school", "the teachers", "the school board", "college", "homework", "the tuition", "the test scores"),
        doing=("teaching", "going back to school", "helping with homework", "paying tuition", "volunteering at the school"),
        do=("help with homework", "go back to school", "pay for college", "send them to private school", "get a degree"),
        places=("at the high school", "at the university", "at the elementary school", "in the classroom", "at the junior college"),
        adjectives=("crowded", "good", "expensive", "underpaid", "hard", "important", "strict", "different"),
        statements=(
            "the teachers don't get paid enough",
            "the classes are way too big",
            "we put our kids in a private school",
            "i went back to school when i was forty",
            "the schools here are pretty good",
            "they spend too much money on football",
            "my daughter wants to go to a state school",
            "the homework takes them all evening",
            "i think parents need to get more involved",
            "tuition went up again this year",
            "i taught fourth grade for ten years",
            "they don't teach the basics anymore",
        ),
    ),
    "politics": Topic(
        things=("the government", "taxes", "the election", "congress", "the budget deficit", "the president", "the city council", "the economy"),
        doing=("voting", "paying taxes", "following politics", "watching the debates"),
        do=("vote", "pay taxes", "cut spending", "raise taxes", "write my congressman"),
        places=("in washington", "in austin", "at city hall", "at the polls", "in congress"),
        adjectives=("crooked", "wasteful", "slow", "important", "confusing", "frustrating", "unfair", "bad"),
        statements=(
            "i always vote but i'm not sure it matters",
            "our property taxes went up again",
            "they spend money like it grows on trees",
            "nobody in washington listens",
            "the economy has been real slow around here",
            "they ought to have term limits",
            "the tax forms are impossible to figure out",
            "i think the state should run a lottery",
            "the city council can't agree on anything",
            "we pay too much in taxes for what we get",
            "the debates didn't change my mind",
            "i think people have just given up",
        ),
    ),
    "home": Topic(
        things=("the house", "the kitchen", "the roof", "the paint", "the carpet", "the plumbing", "the garage", "the fence"),
        doing=("painting the house", "fixing the roof", "remodeling the kitchen", "putting up a fence", "wallpapering"),
        do=("paint the house", "fix the roof", "remodel the kitchen", "put up a fence", "hire somebody"),
        places=("in the kitchen", "in the garage", "at the hardware store", "upstairs", "in the bathroom"),
        adjectives=("old", "expensive", "messy", "hard", "nice", "small", "drafty", "finished"),
        statements=(
            "we painted the whole house ourselves",
            "the roof started leaking last spring",
            "we're remodeling the kitchen right now",
            "i spent all weekend at the hardware store",
            "the house was built in nineteen fifty",
            "we hired somebody to do the plumbing",
            "it took twice as long as we thought",
            "my husband can fix just about anything",
            "we put new carpet in the living room",
            "the old wallpaper just would not come off",
            "we're thinking about selling the house",
            "there's always something that needs fixing",
        ),
    ),
    "computers": Topic(
        things=("the computer", "the software", "the printer", "the new system", "the modem", "the keyboard", "the screen", "the network"),
        doing=("using computers", "writing programs", "playing games on the computer", "typing letters", "learning the software"),
        do=("use a computer", "learn the new software", "buy a computer", "write a program", "hook up the printer"),
        places=("at work", "at home", "in the office", "at the computer store", "at school"),
        adjectives=("slow", "confusing", "useful", "expensive", "fast", "complicated", "handy", "frustrating"),
        statements=(
            "we just got a computer at home",
            "the kids know more about it than i do",
            "i use one all day at work",
            "the printer jams all the time",
            "i do our taxes on the computer",
            "the new software is driving everybody crazy",
            "my son plays games on it all night",
            "it's already out of date",
            "i took a class at the junior college",
            "they keep changing the system on us",
            "i lost everything when it crashed",
            "i still write everything out by hand first",
        ),
    ),
}

OPENERS = ("well", "so", "and", "but", "oh", "yeah", "see", "now", "and then", "well you know", "yeah well", "oh well")
TAGS = ("you know", "i guess", "or something", "and stuff like that", "and everything", "anyway", "i think", "though", "i don't know")
HEDGES = ("i think", "i guess", "i don't know i think", "to me", "i'd say", "personally i think", "i feel like")
INTENSIFIERS = ("really", "pretty", "real", "kind of", "so", "just", "a little", "awfully", "too")
FREQUENCY = ("usually", "always", "sometimes", "kind of", "really", "still", "just")
LIKING = ("like", "enjoy", "love", "don't really like", "can't stand", "don't mind", "hate")
FOND = ("like", "enjoy", "love")
TIMES = (
    "every weekend", "these days", "right now", "in the summer", "on the weekends", "every once in a while",
    "all the time", "this time of year", "about twice a month", "in the evenings", "whenever i can", "most of the time",
)
PAST_TIMES = (
    "last year", "a couple of years ago", "when i was a kid", "last week", "back in college", "last summer", "a long time ago",
    "when we first got married", "when the kids were little",
)
PEOPLE = (
    "my wife", "my husband", "my brother", "my sister", "my mother", "my dad", "my kids", "my son", "my daughter",
    "a friend of mine", "my neighbor", "my in-laws", "my roommate", "my grandfather", "a guy at work", "my boss",
)
REACTIONS = (
    "that's interesting", "that's neat", "that's true", "oh that's great", "that makes sense", "i can imagine",
    "that's too bad", "oh really", "that's funny", "wow that's a lot", "i know what you mean", "that's right",
    "i never thought of it that way", "boy that's something", "i bet", "that's terrible", "isn't that something",
)
BACKCHANNELS = (
    "uh-huh", "yeah", "right", "oh really", "um-hum", "okay", "sure", "oh yeah", "yeah yeah", "i know", "that's true",
    "oh wow", "exactly", "huh", "oh", "yes", "right right", "uh-huh yeah", "oh okay", "i see", "oh no", "that's right",
    "yeah [laughter]", "[laughter] yeah", "[laughter]", "uh-huh uh-huh", "oh my", "um", "yep", "really", "oh gosh",
    "[laughter-yeah]", "oh sure", "absolutely", "uh", "huh-uh", "mm", "oh i see", "no", "oh boy",
)
FRAMES = (
    ("{hedge} {thing} {be} {intens} {adj}", 6),
    ("i {liking} {doing}", 3),
    ("i {freq} {fond} {doing}", 3),
    ("i {freq} {fond} {doing} {time}", 4),
    ("{person} used to {do} {past_time}", 4),
    ("do you {ever} {do}", 4),
    ("have you ever tried {doing}", 2),
    ("what do you think about {thing}", 3),
    ("how long have you been {doing}", 2),
    ("we try to {do} {time}", 3),
    ("we {freq} {do} {place}", 3),
    ("{statement}", 14),
    ("{opener} {statement}", 10),
    ("{statement} {tag}", 8),
    ("{opener} {statement} {tag}", 4),
    ("{statement} but {statement2}", 4),
    ("{statement} and {statement2}", 3),
    ("the thing about {thing} is that {statement}", 2),
    ("i went {place} {past_time} and it was {intens} {adj}", 3),
    ("it's {intens} {adj} {place}", 3),
    ("{person} {liking_s} {doing}", 3),
    ("{reaction}", 5),
    ("{reaction} {statement}", 3),
    ("i know what you mean about {thing}", 1),
    ("i don't know if you've ever been {place}", 1),
    ("so what kind of {thing_bare} do you have", 1),
    ("{opener} {hedge} {statement}", 3),
)
HESITATIONS = ("uh", "um", "uh", "um", "uh uh", "um uh")
FILLERS = ("you know", "i mean", "like", "sort of", "kind of")
MISPRONOUNCED = (
    ("[probly/probably]", "probably"), ("[gonna/going]", "going"), ("[wanna/want]", "want"),
    ("[libary/library]", "library"), ("[nucular/nuclear]", "nuclear"), ("[supposably/supposedly]", "supposedly"),
    ("[ast/asked]", "asked"), ("[dont/don't]", "don't"),
)
COINAGES = ("{yuppie}", "{whatchamacallit}", "{thingamajig}", "{gonna}", "{ya}", "{kinda}")


SINGULAR_IN_S = frozenset({"aerobics", "congress", "my boss", "raising kids", "the news"})


def _be(thing: str) -> str:
    """'is' or 'are' for a noun phrase: plural when it ends in -s, bar a few singular ones."""
    return "are" if thing.endswith("s") and thing not in SINGULAR_IN_S else "is"


def _third_person(liking: str) -> str:
    """'like' -> 'likes', "don't really like" -> "doesn't really like" (for "my wife ___ cooking")."""
    if liking.startswith("don't"):
        return "doesn't" + liking[len("don't"):]
    if liking.startswith("can't"):
        return liking
    return liking + "s"


def _partial_word(word: str, rng: random.Random) -> str:
    """ms98 markup for a cut-off word: 'about' -> 'ab[out]-' (the spoken part, then the missing part)."""
    cut = rng.randint(1, max(1, len(word) - 2))
    return f"{word[:cut]}[{word[cut:]}]-"


def _disfluent(words: list[str], rng: random.Random) -> list[str]:
    """Add the disfluencies and non-speech events of real transcripts, in ms98 markup."""
    out = list(words)
    if rng.random() < 0.12 and len(out) > 2:
        i = rng.randrange(1, len(out))
        out.insert(i, rng.choice(HESITATIONS))
    if rng.random() < 0.12:
        out.insert(0, rng.choice(HESITATIONS))
    if rng.random() < 0.08 and len(out) > 3:
        out.insert(rng.randrange(1, len(out)), rng.choice(FILLERS))
    if rng.random() < 0.07 and len(out) > 2:
        i = rng.randrange(len(out) - 1)
        if out[i].isalpha() and len(out[i]) <= 4:
            out.insert(i, out[i])
    if rng.random() < 0.07 and len(out) > 2:
        i = rng.randrange(len(out))
        if out[i].isalpha() and len(out[i]) > 3:
            out.insert(i, _partial_word(out[i], rng))
    if rng.random() < 0.015:
        for said, meant in MISPRONOUNCED:
            if meant in out:
                out[out.index(meant)] = said
                break
    if rng.random() < 0.01:
        out.insert(rng.randrange(len(out) + 1), rng.choice(COINAGES))
    if rng.random() < 0.02:
        i = rng.randrange(len(out))
        if out[i].isalpha():
            out[i] = f"[laughter-{out[i]}]"
    event = rng.random()
    if event < 0.05:
        out.append("[laughter]")
    elif event < 0.085:
        out.insert(0, "[noise]")
    elif event < 0.115:
        out.insert(rng.randrange(len(out) + 1), "[vocalized-noise]")
    elif event < 0.125:
        out.insert(0, "[laughter]")
    return out


def _fill(frame: str, topic: Topic, rng: random.Random) -> str:
    statement, statement2 = rng.sample(topic.statements, 2)
    liking = rng.choice(LIKING)
    thing = rng.choice(topic.things)
    slots = {
        "hedge": rng.choice(HEDGES),
        "thing": thing,
        "be": _be(thing),
        "thing_bare": rng.choice(topic.things).removeprefix("the ").removeprefix("my ").removeprefix("our "),
        "intens": rng.choice(INTENSIFIERS),
        "adj": rng.choice(topic.adjectives),
        "freq": rng.choice(FREQUENCY),
        "liking": liking,
        "liking_s": _third_person(liking),
        "fond": rng.choice(FOND),
        "doing": rng.choice(topic.doing),
        "do": rng.choice(topic.do),
        "time": rng.choice(TIMES),
        "past_time": rng.choice(PAST_TIMES),
        "person": rng.choice(PEOPLE),
        "ever": rng.choice(("ever", "still", "usually", "like to", "get to")),
        "place": rng.choice(topic.places),
        "statement": statement,
        "statement2": statement2,
        "opener": rng.choice(OPENERS),
        "tag": rng.choice(TAGS),
        "reaction": rng.choice(REACTIONS),
    }
    return frame.format(**slots)


def generate_sentences(count: int = BANK_SIZE, seed: int = BANK_SEED) -> list[str]:
    """``count`` distinct sentences (backchannels first, then topic sentences), deterministic in ``seed``."""
    if count <= len(BACKCHANNELS):
        raise ValueError(f"count must exceed the {len(BACKCHANNELS)} backchannels, got {count}")
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    frames = [frame for frame, _ in FRAMES]
    weights = [weight for _, weight in FRAMES]
    sentences = list(BACKCHANNELS)
    seen = set(sentences)
    attempts = 0
    while len(sentences) < count:
        attempts += 1
        if attempts > 50 * count:
            raise ValueError(f"the grammar cannot produce {count} distinct sentences")
        topic = TOPICS[rng.choice(topics)]
        words = _fill(rng.choices(frames, weights)[0], topic, rng).split()
        sentence = " ".join(_disfluent(words, rng))
        if sentence not in seen:
            seen.add(sentence)
            sentences.append(sentence)
    return sentences


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m blspeech.corpus.sentence_grammar", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=BANK_PATH, help="where to write the bank (default: the shipped resource)")
    parser.add_argument("--count", type=int, default=BANK_SIZE, help="number of distinct sentences")
    parser.add_argument("--seed", type=int, default=BANK_SEED)
    args = parser.parse_args(argv)
    sentences = generate_sentences(args.count, args.seed)
    write_text_atomic(args.out, "\n".join(sentences) + "\n")
    print(f"wrote {len(sentences)} sentences to {args.out}")


if __name__ == "__main__":
    main()
