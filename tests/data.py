"""Small labelled text sets written for the tests (sports vs cooking)."""

SPORTS = [
    "The striker scored twice in the second half to win the match.",
    "The goalkeeper saved a penalty in the final minute.",
    "Our team won the championship after a tense overtime game.",
    "The tennis player served an ace to take the first set.",
    "Fans cheered as the runner crossed the finish line first.",
    "The coach praised the defence after the victory.",
    "The basketball team made a three-pointer at the buzzer.",
    "The cyclist won the mountain stage of the tour.",
]
COOKING = [
    "Simmer the tomato sauce with garlic and basil for twenty minutes.",
    "Whisk the eggs and sugar until pale, then fold in the flour.",
    "Roast the chicken in the oven with lemon and thyme.",
    "Chop the onions finely and fry them in butter until golden.",
    "Knead the bread dough and let it rise for an hour.",
    "Season the soup with salt, pepper and a pinch of nutmeg.",
    "Bake the cake at 180 degrees until a skewer comes out clean.",
    "Marinate the beef overnight in soy sauce and ginger.",
]
HELD_OUT_SPORTS = [
    "The midfielder was sent off after a second yellow card.",
    "She broke the world record in the 100 metre sprint.",
    "The home side equalised with a header from a corner kick.",
]
HELD_OUT_COOKING = [
    "Stir the risotto slowly while adding warm stock.",
    "Grate the cheese and sprinkle it over the pasta before serving.",
    "Fry the pancakes in a hot pan and flip them once.",
]
