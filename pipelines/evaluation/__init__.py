"""How a network the project ships scores on EmojiBench: one module per network, one job each.

    emojinet.py     EmojiNet: cross-style retrieval R@1 and attribute accuracies
    clip.py         the emoji CLIP: zero-shot style accuracy and text→image R@5
    directions.py   an editing direction: how often it moves its attribute, the identity it keeps
    style_judge.py  the style judge: accuracy over all styles, per style, the confusion matrix
    parsing.py      the parsing U-Net: its dense region task, IoU, the linear probe from EmojiNet
    styles.py       which rows each style draws, per split, and how many

The recipe that trains a network (train/) scores it with its module here before export, and
`bench.zoo_emoji64` scores the shipped networks with the same functions, so bench/ needs nothing
from train/.
"""
